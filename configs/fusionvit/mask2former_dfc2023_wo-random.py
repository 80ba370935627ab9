# Ablation: without random modality combination (every training sample keeps all
# active modalities; only genuinely missing data is NaN).
_base_ = ['./mask2former_dfc2023.py']

custom_hooks = []
