# A *preset* (a partial config, merged with `--preset`) for mask2former_earthmiss.py:
# the same overrides as cpu_preset_oemsar.py (both releases are 8-bit optical + SAR
# with 8 classes): 128 px crops and slide windows on tiles resized to about 256 px, a
# 6-block ViT-T, 400 iterations.
#
#   python tools/make_synthetic_data.py earthmiss data/synthetic/earthmiss_cpu \
#       --per-city 1 --size 256
#   python tools/train.py configs/fusionvit/mask2former_earthmiss.py \
#       --preset configs/demo/cpu_preset_earthmiss.py \
#       --cfg-options data_root=data/synthetic/earthmiss_cpu
_base_ = ['./cpu_preset_oemsar.py']
