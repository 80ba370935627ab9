"""The robustness study: multi-seed statistics on known inputs, the plan, resume, fill-in."""
import csv
import glob
import json
import math
import os
import os.path as osp
import shutil
import subprocess

import pytest
from mmengine.config import Config

from incomplete_fusion.experiments import Run, SeedStatistics, Stat, execute, failure_weights

from incomplete_fusion.testing.tiny import TINY_BACKBONE, load_tool
from test_low_label import in_process, tiny_preset

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))

RGB, DSM, BOTH = ('rgb',), ('dsm',), ('rgb', 'dsm')


def known_results():
    return {
        'A': {0: {RGB: 10.0, DSM: 50.0, BOTH: 60.0},
              1: {RGB: 20.0, DSM: 40.0, BOTH: 70.0},
              2: {RGB: 30.0, DSM: 60.0, BOTH: 80.0}},
        'B': {0: {RGB: 5.0, DSM: 3.0, BOTH: 7.0},  # worst: DSM, RGB, RGB
              1: {RGB: 1.0, DSM: 2.0, BOTH: 9.0},
              2: {RGB: 4.0, DSM: 6.0, BOTH: 8.0}},
    }


def test_mean_std_mean_over_subsets_and_worst_subset_on_known_inputs():
    stats = SeedStatistics(('rgb', 'dsm'), known_results())
    assert stats.seeds == [0, 1, 2] and stats.variants == ['A', 'B']
    assert stats.stat('A', RGB).mean == 20.0 and stats.stat('A', RGB).std == 10.0  # ddof=1
    assert stats.stat('A', BOTH).mean == 70.0 and stats.stat('A', BOTH).std == 10.0
    # per seed first: seed means 40, 43.33, 56.67; worst 10, 20, 30
    assert stats.per_seed('A', 'mean') == pytest.approx((40.0, 130 / 3, 170 / 3))
    assert stats.stat('A', 'mean').mean == pytest.approx(140 / 3)
    assert stats.stat('A', 'mean').std == pytest.approx(math.sqrt(
        sum((x - 140 / 3) ** 2 for x in (40.0, 130 / 3, 170 / 3)) / 2))
    assert stats.per_seed('A', 'worst') == (10.0, 20.0, 30.0)
    # the worst subset differs between seeds: min per seed (3, 1, 4), not min of the means
    assert stats.per_seed('B', 'worst') == (3.0, 1.0, 4.0)
    assert stats.stat('B', 'worst').mean == pytest.approx(8 / 3)
    assert min(stats.stat('B', s).mean for s in stats.subsets) == pytest.approx(10 / 3)
    assert stats.worst_subsets('B') == {RGB: 2, DSM: 1}
    assert stats.worst_label('B') == 'RGB ×2, DSM ×1'


def test_expected_score_under_sensor_failure_and_drop_by_hand():
    """p = 0.1, two modalities: P(RGB only) = P(DSM only) = 0.9 * 0.1 = 0.09,
    P(both) = 0.81, P(none) = 0.01 -> renormalised by 0.99."""
    weights = failure_weights(('rgb', 'dsm'), 0.1)
    assert weights == pytest.approx({RGB: 0.09 / 0.99, DSM: 0.09 / 0.99, BOTH: 0.81 / 0.99})
    three = failure_weights(('rgb', 'sar', 'dsm'), 0.3)  # 7 subsets, sum 1
    assert len(three) == 7 and sum(three.values()) == pytest.approx(1.0)
    assert three[('rgb', 'sar', 'dsm')] == pytest.approx(0.343 / (1 - 0.027))
    assert failure_weights(('rgb', 'dsm'), 0.0) == {RGB: 0.0, DSM: 0.0, BOTH: 1.0}
    with pytest.raises(ValueError, match='p must be'):
        failure_weights(('rgb',), 1.0)
    stats = SeedStatistics(('rgb', 'dsm'), known_results())
    # A seed 0: RGB 10, DSM 50, both 60
    assert stats.per_seed('A', 'failure p=0.1')[0] == pytest.approx(
        (0.09 * 10 + 0.09 * 50 + 0.81 * 60) / 0.99)  # 54.5454...
    assert stats.per_seed('A', 'failure p=0.3')[0] == pytest.approx(
        (0.21 * 10 + 0.21 * 50 + 0.49 * 60) / 0.91)  # 46.1538...
    # relative drop of the worst subset from all modalities, %: (60 - 10) / 60
    assert stats.per_seed('A', 'drop') == pytest.approx((500 / 6, 500 / 7, 500 / 8))
    assert stats.per_seed('B', 'drop') == pytest.approx((400 / 7, 800 / 9, 50.0))
    # a study without every subset has no failure rows (and no drop without all)
    partial = {v: {s: {RGB: r[RGB], DSM: r[DSM]} for s, r in per.items()}
               for v, per in known_results().items()}
    assert SeedStatistics(('rgb', 'dsm'), partial).rows() == [RGB, DSM, 'mean', 'worst']


def test_decision_rule_lead_beyond_one_std_on_both_rows():
    stats = SeedStatistics(('rgb', 'dsm'), known_results())
    leads = stats.leads('A', 'B')
    # mean: A 46.67 ± 8.82 vs B 5.0 ± 1.0; worst: A 20 ± 10 vs B 2.67 ± 1.53
    assert leads['worst'] == pytest.approx((20 - 8 / 3, 10.0, True))
    assert leads['mean'][2] and not any(v[2] for v in stats.leads('B', 'A').values())
    close = known_results()
    close['B'] = {s: {k: v - 9.0 for k, v in r.items()} for s, r in close['A'].items()}
    # A leads by exactly 9 on every row, less than the std of 10 on the worst subset
    assert not SeedStatistics(('rgb', 'dsm'), close).leads('A', 'B')['worst'][2]
    one_seed = {v: {0: r[0]} for v, r in known_results().items()}
    assert not SeedStatistics(('rgb', 'dsm'), one_seed).leads('A', 'B')['mean'][2]


def test_one_seed_has_no_std_and_unequal_runs_are_refused():
    single = Stat((3.0,))
    assert math.isnan(single.std) and single.format() == '3.00'
    assert Stat((1.0, 3.0)).format() == '2.00 ± 1.41'
    results = known_results()
    del results['B'][2]
    with pytest.raises(ValueError, match="'B' has seeds"):
        SeedStatistics(('rgb', 'dsm'), results)
    results = known_results()
    del results['A'][1][BOTH]
    with pytest.raises(ValueError, match='other subsets'):
        SeedStatistics(('rgb', 'dsm'), results)


def test_markdown_csv_and_figure(tmp_path):
    paths = SeedStatistics(('rgb', 'dsm'), known_results()).save(str(tmp_path), 'robustness')
    md = open(paths['md']).read().splitlines()
    assert md[0] == '| RGB | DSM | A | B |'
    assert md[2] == '| ✓ |  | 20.00 ± 10.00 | 3.33 ± 2.08 |'
    assert md[5].startswith('| **mean over subsets** |  | 46.67 ± ')
    assert md[6] == '| **worst subset** |  | 20.00 ± 10.00 | 2.67 ± 1.53 |'
    assert md[7].startswith('| **expected, p(missing)=0.1** |  | ')
    assert md[9].startswith('| **drop worst vs all (%)** |  | 72.42 ± ')
    assert md[10] == '| *which* |  | RGB ×3 | RGB ×2, DSM ×1 |'
    with open(paths['csv']) as f:
        rows = list(csv.DictReader(f))
    assert [r['subset'] for r in rows] == ['RGB', 'DSM', 'RGB+DSM', 'mean', 'worst',
                                           'failure p=0.1', 'failure p=0.3', 'drop']
    assert float(rows[4]['B mean']) == pytest.approx(8 / 3)
    assert float(rows[0]['A std']) == 10.0 and rows[0]['rgb'] == '1'
    with open(paths['seeds']) as f:
        raw = list(csv.DictReader(f))
    assert len(raw) == 2 * 8 * 3
    assert {r['value'] for r in raw if r['variant'] == 'B' and r['subset'] == 'worst'} == {
        '3.0', '1.0', '4.0'}
    for png in ('png', 'heatmap'):
        assert open(paths[png], 'rb').read(4) == b'\x89PNG'


def test_subset_table_csv_reads_back_and_bad_files_are_refused(tmp_path):
    """The reader takes the modality columns from the subset labels, not by guessing
    (a metric column of 0/1 values must stay a metric)."""
    from incomplete_fusion.evaluation import SubsetTable
    table = SubsetTable(('rgb', 'sar', 'dsm'))
    for i, subset in enumerate([('rgb',), ('sar', 'dsm'), ('rgb', 'sar', 'dsm')]):
        table.add(subset, {'flag': float(i % 2), 'IoU.building': 10.0 * i})
    table.write_csv(str(tmp_path / 't.csv'))
    back = SubsetTable.read_csv(str(tmp_path / 't.csv'))
    assert back.modalities == ('rgb', 'sar', 'dsm') and back.columns == ['flag', 'IoU.building']
    assert back.rows == table.rows
    (tmp_path / 'bad.csv').write_text('subset,rgb,dsm,IoU\nRGB,0,1,3.0\n')
    with pytest.raises(ValueError, match='marks'):
        SubsetTable.read_csv(str(tmp_path / 'bad.csv'))
    (tmp_path / 'other.csv').write_text('name,IoU\nRGB,3.0\n')
    with pytest.raises(ValueError, match='not a subset table'):
        SubsetTable.read_csv(str(tmp_path / 'other.csv'))


def test_a_variant_without_its_config_names_the_file(tmp_path, monkeypatch):
    study = load_tool('robustness_study')
    monkeypatch.setitem(study.VARIANTS, 'PerceiverIO', 'perceiverio_not_written_yet.py')
    with pytest.raises(FileNotFoundError, match='perceiverio_not_written_yet.py'):
        study.main(['--work-dir', str(tmp_path), '--variants', 'FusionViT', 'PerceiverIO',
                    '--dry-run'])
    assert not os.listdir(tmp_path)  # nothing generated or trained


def test_gpu_script_dry_run_plans_the_paper_sized_study(tmp_path):
    """benchmarks/gpu_study.sh --dry-run composes every config at paper size, runs nothing."""
    out = subprocess.run(
        ['bash', osp.join(REPO, 'benchmarks', 'gpu_study.sh'), '--dry-run',
         '--work-dir', str(tmp_path / 'gpu'), '--seeds', '0'],
        capture_output=True, text=True, cwd=REPO, env=dict(os.environ, OMP_NUM_THREADS='1'))
    assert out.returncode == 0, out.stderr[-2000:]
    plan = out.stdout
    for variant in ('FusionViT', 'w/o mask', 'w/o random', 'w/o modality attn', 'MultiViT',
                    'PerceiverIO', 'self-distillation'):
        assert f'[seed 0 {variant}] train' in plan
    assert '[seed 0 fill-in] eval (after w/o random, multimae)' in plan
    assert '[seed 0 multimae] pretrain' in plan
    assert 'FusionViT depth 12, 256x256' in plan  # paper model size, no CPU preset
    assert 'cpu_preset' not in plan
    assert not (tmp_path / 'gpu').exists()


def tiny_multimae_preset(path: str) -> str:
    """--multimae-preset at test sizes: the tiny backbone (fits tiny_preset's), 64x64."""
    pipeline = [dict(type='LoadMultimodalImages'), dict(type='RandomFlip', prob=0.5),
                dict(type='PackInputs', meta_keys=('img_path', 'ori_shape', 'img_shape'))]
    Config(dict(
        model=dict(backbone=TINY_BACKBONE,
                   head=dict(in_dims=32, decoder_dims=32, decoder_heads=4)),
        train_dataloader=dict(batch_size=2, num_workers=0, persistent_workers=False,
                              dataset=dict(pipeline=pipeline)),
        param_scheduler=[dict(type='ConstantLR', factor=1.0, by_epoch=True, begin=0, end=1)],
        default_hooks=dict(logger=dict(interval=1)),
    )).dump(path)
    return path


@pytest.fixture
def tiny_study(tmp_path, monkeypatch):
    """The study's main() with runs in-process and the tiny presets on 64-px tiles."""
    from incomplete_fusion.experiments import tool_runs
    monkeypatch.setattr(tool_runs, 'run_tool', in_process)
    study = load_tool('robustness_study')
    work_dir = tmp_path / 'study'
    argv = ['--work-dir', str(work_dir), '--iters', '1', '--pretrain-epochs', '1',
            '--preset', tiny_preset(str(tmp_path / 'tiny_preset.py')),
            '--multimae-preset', tiny_multimae_preset(str(tmp_path / 'tiny_mae.py')),
            '--num-train', '4', '--num-val', '2', '--num-test', '2', '--tile-size', '64',
            '--results-dir', str(tmp_path / 'published')]
    return study, work_dir, argv


def train_runs(run_dir):
    """mmengine's timestamped folders of a run's trainings."""
    return sorted(glob.glob(osp.join(run_dir, 'train', '2*')))


def test_two_seeds_summary_resume_and_changed_settings(tiny_study):
    study, work_dir, argv = tiny_study
    argv = argv + ['--variants', 'FusionViT', '--seeds', '0', '1']
    study.main(argv)
    with open(work_dir / 'robustness.csv') as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 7 + 5 and [r['subset'] for r in rows[7:9]] == ['mean', 'worst']
    assert list(rows[0])[-2:] == ['FusionViT mean', 'FusionViT std']
    with open(work_dir / 'robustness_seeds.csv') as f:
        assert {r['seed'] for r in csv.DictReader(f)} == {'0', '1'}
    for seed in (0, 1):  # one dataset, the seed of each run
        config = glob.glob(str(work_dir / f'seed{seed}' / 'FusionViT' / '*.py'))
        cfg = Config.fromfile(config[0])
        assert cfg.randomness.seed == seed
        assert cfg.data_root == str(work_dir / 'data' / 'dfc2023') + '/'
    table = (work_dir / 'robustness.csv').read_text()
    seed1 = work_dir / 'seed1' / 'FusionViT'
    trained = train_runs(seed1)
    os.remove(seed1 / 'eval' / 'subset_eval.csv')  # interrupted after training: evaluate only
    shutil.rmtree(work_dir / 'seed0' / 'FusionViT' / 'train')  # finished: reused as is
    study.main(argv)
    assert (work_dir / 'robustness.csv').read_text() == table
    assert train_runs(seed1) == trained and (seed1 / 'eval' / 'subset_eval.csv').exists()
    assert not (work_dir / 'seed0' / 'FusionViT' / 'train').exists()
    with pytest.raises(RuntimeError, match='other settings'):
        study.main([a if a != '1' else '2' for a in argv[:4]] + argv[4:])  # --iters 2


def test_a_fresh_work_dir_resumes_from_the_published_results(tiny_study, tmp_path):
    """Published runs (CSVs + record) are restored, not retrained, in another work dir
    (a fresh machine); a record of other settings is refused; val and test differ."""
    study, work_dir, argv = tiny_study
    argv = argv + ['--variants', 'FusionViT', '--seeds', '0']
    study.main(argv)
    published = tmp_path / 'published' / 'tiny_preset_1it_data0' / 'seed0'
    assert sorted(os.listdir(published)) == ['FusionViT.json', 'FusionViT.test.csv',
                                             'FusionViT.val.csv']
    record = json.loads((published / 'FusionViT.json').read_text())
    assert record['iters'] == 1 and record['data']['num_test'] == 2 and record['seconds'] > 0
    with open(published / 'FusionViT.test.csv') as f:
        assert len(list(csv.DictReader(f))) == 7
    table = (work_dir / 'robustness.csv').read_text()
    fresh = tmp_path / 'fresh'
    study.main([str(fresh) if a == str(work_dir) else a for a in argv])
    assert (fresh / 'robustness.csv').read_text() == table
    assert not train_runs(fresh / 'seed0' / 'FusionViT')  # restored, not trained
    # the tiles behind the two tables: the first num_val generated val tiles, then test
    anns = {split: json.loads((fresh / 'data' / 'dfc2023' / 'annotations' /
                               f'buildings_only_{split}.json').read_text())['images']
            for split in ('val', 'test')}
    assert [len(anns['val']), len(anns['test'])] == [2, 2]
    assert not {i['file_name'] for i in anns['val']} & {i['file_name'] for i in anns['test']}
    record['config_sha256'] = '0' * 64  # published with other settings
    (published / 'FusionViT.json').write_text(json.dumps(record))
    with pytest.raises(RuntimeError, match='other settings'):
        study.main([str(tmp_path / 'third') if a == str(work_dir) else a for a in argv])


def test_dry_run_default_preset_and_variants(capsys, tmp_path):
    study = load_tool('robustness_study')
    study.main(['--work-dir', str(tmp_path / 'w'), '--seeds', '0', '--dry-run',
                '--results-dir', str(tmp_path / 'r'),
                '--variants', 'FusionViT', 'FusionViT paper init'])
    plan = capsys.readouterr().out
    assert 'preset: ' + osp.join(REPO, 'configs', 'demo', 'cpu_preset.py') in plan
    assert '16 val + 32 test' in plan and 'cpu_preset_400it_data0' in plan
    assert '[seed 0 FusionViT paper init] train: FusionViT depth 6, 128x128' in plan
    args = study.parse_args(['--seeds', '0', '--variants', 'FusionViT', 'FusionViT paper init'])
    settings = study.settings_of(args)
    shipped, paper = study.plan(settings, str(tmp_path / 'w'), str(tmp_path / 'data') + '/')
    assert osp.basename(paper.out) == 'FusionViT_paper_init'
    assert shipped.cfg.model.backbone.fusion_init == 'modality_mean'
    assert paper.cfg.model.backbone.fusion_init == 'learned'
    run = paper
    assert run.cfg.test_dataloader.dataset.ann_file == 'annotations/buildings_only_test.json'
    assert run.cfg.val_dataloader.dataset.ann_file == 'annotations/buildings_only_val.json'
    assert not (tmp_path / 'w').exists()  # a dry run writes nothing


def test_fill_in_evaluates_the_full_modality_checkpoint_with_the_seeds_generator(tiny_study):
    study, work_dir, argv = tiny_study
    study.main(argv + ['--variants', 'fill-in', '--seeds', '3'])
    seed = work_dir / 'seed3'
    assert sorted(os.listdir(seed)) == ['fill-in', 'multimae', 'wo_random']
    assert not train_runs(seed / 'fill-in')  # evaluation only
    cfg = Config.fromfile(glob.glob(str(seed / 'fill-in' / '*.py'))[0])
    assert cfg.model.backbone.type == 'FillInBackbone'
    assert cfg.model.backbone.generator is None  # built from the checkpoint's config
    assert cfg.model.backbone.generator_checkpoint == str(seed / 'multimae/train/epoch_1.pth')
    log = open(glob.glob(str(seed / 'fill-in' / 'eval' / '2*' / '*.log'))[0]).read()
    assert str(seed / 'wo_random/train/iter_1.pth') in log  # the w/o random checkpoint
    with open(work_dir / 'robustness.csv') as f:
        assert list(csv.DictReader(f))[0].keys() >= {'fill-in mean', 'fill-in std'}


def test_parallel_runs_wait_for_their_dependencies_and_failures_stay_local(tmp_path):
    """--jobs: a run starts only after the runs it needs; a failure blocks only its
    dependants; the others still run and the failures are returned."""
    import threading
    study = load_tool('robustness_study')
    finished, started = [], threading.Event()

    class Step(Run):
        def execute(self):
            if self.variant == 'after base':
                started.set()
            assert all(r.name in finished for r in self.needs), 'started before its needs'
            if self.variant == 'broken':
                raise ValueError('boom')
            if self.variant == 'base':  # give a dependant that does not wait the time to start
                started.wait(2)
            finished.append(self.name)
            return True

    def step(variant, needs=()):
        return Step('train', variant, 0, str(tmp_path / variant), None, None, '', list(needs))

    base, broken = step('base'), step('broken')
    runs = [base, broken, step('other'), step('after base', [base]),
            step('after broken', [broken])]
    failed = execute(runs, 2, str(tmp_path))
    assert sorted(finished) == ['seed 0 after base', 'seed 0 base', 'seed 0 other']
    assert failed == {'seed 0 broken': 'ValueError: boom',
                      'seed 0 after broken': "needs ['seed 0 broken'], which failed"}
    with open(tmp_path / 'timing.csv') as f:
        assert len(list(csv.DictReader(f))) == 3
