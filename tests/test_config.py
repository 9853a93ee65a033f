import pytest

from vox import config as c


def test_every_experiment_and_profile_loads():
    assert 'e19098ab' in c.known_ids()
    for exp_id in c.known_ids():
        raw = c.load_raw(c.config_path(exp_id))
        cfg = c.load_config(exp_id)
        assert cfg.id == exp_id and cfg.profile == 'faithful'
        for name in raw.get('profiles') or {}:
            assert c.load_config(exp_id, name).profile == name


def test_faithful_e19098ab_is_the_blogs():
    cfg = c.load_config('e19098ab')
    assert (cfg.train.optimizer, cfg.train.lr, cfg.train.batch_size,
            cfg.train.epochs) == ('RMSprop', 1e-5, 10, 1000)
    assert cfg.data.crop_frames == 256 and cfg.data.scale == 'unit'
    assert cfg.model.width == 1.0


def test_profile_overrides_only_what_it_names():
    faithful = c.load_config('e19098ab')
    smoke = c.load_config('e19098ab', 'smoke')
    assert smoke.train.epochs < faithful.train.epochs
    assert smoke.train.batch_size == faithful.train.batch_size
    assert smoke.data == faithful.data


def write(tmp_path, text):
    path = tmp_path / 'config.yaml'
    path.write_text(text)
    return path


BASE = '''
id: x
title: t
kind: classifier
model: {name: classifier}
data: {crop_frames: 64, scale: unit}
train: {optimizer: RMSprop, lr: 1e-5, batch_size: 2, epochs: 1}
'''


def test_misspelled_key_names_key_and_valid_ones(tmp_path):
    path = write(tmp_path, BASE.replace('batch_size', 'batch_sise'))
    with pytest.raises(c.ConfigError) as e:
        c.load_config(path)
    msg = str(e.value)
    assert "unknown key 'batch_sise'" in msg
    assert "did you mean 'batch_size'" in msg
    assert 'valid keys:' in msg and 'epochs' in msg
    assert '\n' not in msg


def test_typo_inside_a_profile_is_caught_even_if_unused(tmp_path):
    path = write(tmp_path, BASE + 'profiles:\n  smoke:\n    train: {epoch: 2}\n')
    with pytest.raises(c.ConfigError, match="profile smoke.*unknown key 'epoch'"):
        c.load_config(path)


def test_wrong_type_and_missing_key(tmp_path):
    with pytest.raises(c.ConfigError, match='expected int'):
        c.load_config(write(tmp_path, BASE.replace('epochs: 1', 'epochs: one')))
    with pytest.raises(c.ConfigError, match="missing required key 'lr'"):
        c.load_config(write(tmp_path, BASE.replace('lr: 1e-5, ', '')))


def test_yaml_scientific_notation_is_a_float(tmp_path):
    assert c.load_config(write(tmp_path, BASE)).train.lr == 1e-5


def test_unknown_id_and_profile():
    with pytest.raises(c.ConfigError, match='known IDs: .*e19098ab'):
        c.load_config('e19098ac')
    with pytest.raises(c.ConfigError, match="unknown profile 'smok'"):
        c.load_config('e19098ab', 'smok')


@pytest.mark.parametrize('exp_id,section', [
    ('e19098ab', 'model'), ('bc7db4a2', 'model'),
    ('54314b33', 'generator'), ('cfcefd21', 'discriminator')])
def test_model_names_are_validated_against_the_trainer(exp_id, section):
    from vox.base.errors import VoxError
    from vox.training.registry import trainer_module
    config = c.load_config(exp_id, 'smoke')
    module = trainer_module(config.kind)
    assert module.build_models(config, (2, 2, 2))  # the configs' names build
    getattr(config, section).name = 'no_such_model'
    with pytest.raises(VoxError, match=rf"{section}.name: unknown .*"
                                       rf"'no_such_model'; known: "):
        module.build_models(config, (2, 2, 2))


def test_every_scale_check_takes_its_choices_from_one_home():
    from vox.base.errors import VoxError
    from vox.base.scales import SCALES
    from vox.config.blurmask import validate
    from vox.data.dataset import SpectrogramCropDataset
    assert list(SCALES) == ['unit', 'raw']
    for scale in SCALES:  # accepted everywhere
        c.DataConfig(crop_frames=4, scale=scale)
        SpectrogramCropDataset([], None, 4, scale, train=True)
    with pytest.raises(c.RangeError, match="'unit' or 'raw', got 'db'"):
        c.DataConfig(crop_frames=4, scale='db')
    with pytest.raises(VoxError, match="'unit' or 'raw', got 'db'"):
        SpectrogramCropDataset([], None, 4, 'db', train=True)
    cfg = c.load_config('blurmask-1')
    cfg.blur_scale = 'db'
    with pytest.raises(c.ConfigError, match="expected one of 'unit', 'raw'"):
        validate(cfg, 'x')
