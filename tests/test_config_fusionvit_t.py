"""FusionViT-T is declared once (configs/_base_/models/fusionvit_t.py) and every shipped
config composes to the model it built before that declaration moved there.

``tests/shipped_config_models.json`` holds each shipped config's ``model`` dict as
composed when the scale was still written out in every model layer. A config whose
model changes on purpose is re-recorded with
``python tests/test_config_fusionvit_t.py --record CONFIG_NAME ...``.
"""
import glob
import json
import os.path as osp
import re
import sys

import pytest
from mmengine.config import Config

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
RECORD = osp.join(REPO, 'tests', 'shipped_config_models.json')


def composed_model(path: str) -> dict:
    """The config's ``model`` as JSON values (tuples become lists, as when recorded), the
    path of the configs folder (``{{ fileDirname }}``) written ``<configs>``."""
    text = json.dumps(Config.fromfile(path).model.to_dict(), sort_keys=True)
    configs = osp.dirname(osp.dirname(osp.abspath(path)))
    return json.loads(text.replace(configs, '<configs>'))


def _recorded() -> dict:
    with open(RECORD) as f:
        return json.load(f)


@pytest.mark.parametrize('name', sorted(_recorded()))
def test_shipped_config_composes_to_the_recorded_model(name):
    assert composed_model(osp.join(REPO, 'configs', 'fusionvit', name + '.py')) == \
        _recorded()[name]


def test_every_shipped_config_is_recorded():
    shipped = {osp.splitext(osp.basename(p))[0]
               for p in glob.glob(osp.join(REPO, 'configs', 'fusionvit', '*.py'))}
    recorded = set(_recorded())
    # configs added after the recording (new datasets) are checked by their own tests
    assert recorded <= shipped, f'recorded configs that no longer exist: {recorded - shipped}'


def test_the_vit_t_scale_is_written_in_one_file_only():
    pattern = re.compile(r'embed_dims\s*=\s*192|out_indices\s*=\s*\(2, 5, 8, 11\)|'
                         r'patch_keep_ratio\s*=\s*0\.9')
    holders = sorted(osp.relpath(p, REPO) for p in glob.glob(osp.join(REPO, 'configs', '**',
                                                                       '*.py'), recursive=True)
                     if pattern.search(open(p).read()))
    assert holders == ['configs/_base_/models/fusionvit_t.py']


def test_the_declaration_reaches_fusionvit_multimae_and_perceiverio():
    configs = {name: Config.fromfile(osp.join(REPO, 'configs', 'fusionvit', name + '.py'))
               for name in ('mask2former_dfc2023', 'mask2former_dfc2023_semantic',
                            'multimae_dfc2023', 'perceiverio_dfc2023_semantic')}
    vit_t = configs['mask2former_dfc2023'].vit_t
    for name, cfg in configs.items():
        backbone = cfg.model.backbone
        assert {k: backbone[k] for k in vit_t} == dict(vit_t), name
    assert configs['perceiverio_dfc2023_semantic'].model.backbone.type == 'PerceiverIO'
    assert configs['multimae_dfc2023'].model.backbone.patch_keep_ratio == 1.0


def record(names) -> None:
    """Re-record the composed model of the named shipped configs (all when none given)."""
    data = _recorded() if osp.exists(RECORD) else {}
    paths = sorted(glob.glob(osp.join(REPO, 'configs', 'fusionvit', '*.py')))
    for path in paths:
        name = osp.splitext(osp.basename(path))[0]
        if not names or name in names:
            data[name] = composed_model(path)
    with open(RECORD, 'w') as f:
        json.dump(data, f, indent=1, sort_keys=True)
        f.write('\n')


if __name__ == '__main__':
    if sys.argv[1:2] != ['--record']:
        sys.exit('usage: python tests/test_config_fusionvit_t.py --record [CONFIG_NAME ...]')
    import incomplete_fusion  # noqa: F401  (the configs' custom imports)
    record(sys.argv[2:])
