"""YAML -> dataclasses, strictly: the machinery every config schema uses.

:func:`from_dict` builds a dataclass from a mapping and names the file and
key in every error (unknown keys get their closest valid spelling);
:func:`resolve` merges a named profile into the faithful mapping;
:func:`find_config` turns an experiment ID or a config.yaml path into the
file.  The schemas themselves are :mod:`vox.config` (Trainer experiments)
and :mod:`vox.config.blurmask`.
"""
import copy
import dataclasses
import difflib
import typing
from pathlib import Path

import yaml

from vox.base.errors import VoxError
from vox.base.paths import REPO

EXPERIMENTS_DIR = REPO / 'experiments'


class ConfigError(VoxError):
    pass


class RangeError(ValueError):
    """A value out of its range, raised by a schema's ``__post_init__``;
    ``key`` is the field, which :func:`from_dict` adds to the key path."""

    def __init__(self, key, message):
        super().__init__(message)
        self.key = key


def _type_name(tp):
    return getattr(tp, '__name__', str(tp))


def from_dict(cls, data, where):
    """Builds dataclass ``cls`` from ``data``, naming ``where`` in errors."""
    if not isinstance(data, dict):
        raise ConfigError(f'{where}: expected a mapping, got {data!r}')
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    for key in data:
        if key not in fields:
            close = difflib.get_close_matches(str(key), fields, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ''
            raise ConfigError(
                f"{where}: unknown key '{key}'{hint}; valid keys: "
                f"{', '.join(sorted(fields))}")
    kwargs = {}
    for name, field in fields.items():
        if name not in data:
            if (field.default is dataclasses.MISSING
                    and field.default_factory is dataclasses.MISSING):
                raise ConfigError(f"{where}: missing required key '{name}'")
            continue
        kwargs[name] = _convert(hints[name], data[name], f'{where}.{name}')
    try:
        return cls(**kwargs)
    except RangeError as e:  # a dataclass's own range check (__post_init__)
        raise ConfigError(f'{where}.{e.key}: {e}') from None
    except ValueError as e:  # a dataclass's own check (__post_init__)
        raise ConfigError(f'{where}: {e}') from None


def to_dict(config):
    """A loaded config (any of vox's config dataclasses) as plain data: what
    a run folder's config.yaml records."""
    return dataclasses.asdict(config)


def _convert(tp, value, where):
    origin = typing.get_origin(tp)
    if origin is typing.Union:  # Optional[X]
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return None if value is None else _convert(args[0], value, where)
    if dataclasses.is_dataclass(tp):
        return from_dict(tp, value, where)
    if tp is float and isinstance(value, (int, float)) \
            and not isinstance(value, bool):
        return float(value)
    if tp is float and isinstance(value, str):
        try:  # YAML 1.1 reads '1e-5' as a string
            return float(value)
        except ValueError:
            pass
    if tp in (int, str, bool, float) and not isinstance(value, tp) \
            or (tp is int and isinstance(value, bool)):
        raise ConfigError(
            f'{where}: expected {_type_name(tp)}, got {value!r}')
    if origin in (list, dict) and not isinstance(value, origin):
        raise ConfigError(f'{where}: expected a {origin.__name__}, '
                          f'got {value!r}')
    return value


def deep_merge(base, override):
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def known_ids():
    return sorted(p.parent.name for p in EXPERIMENTS_DIR.glob('*/config.yaml'))


def find_config(exp_id_or_path):
    """An experiment ID (``e19098ab``) or a path with a suffix
    (``my/config.yaml``) -> the config file's path."""
    path = Path(exp_id_or_path)
    return path if path.suffix else config_path(str(exp_id_or_path))


def config_path(exp_id):
    path = EXPERIMENTS_DIR / exp_id / 'config.yaml'
    if not path.exists():
        close = difflib.get_close_matches(exp_id, known_ids(), n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ''
        raise ConfigError(
            f"unknown experiment ID '{exp_id}'{hint}; known IDs: "
            f"{', '.join(known_ids())}")
    return path


def load_raw(path):
    try:
        with open(path) as f:
            raw = yaml.safe_load(f)
    except yaml.YAMLError as e:
        mark = getattr(e, 'problem_mark', None)
        where = f':{mark.line + 1}' if mark is not None else ''
        what = getattr(e, 'problem', None) or str(e).splitlines()[0]
        raise ConfigError(f'{path}{where}: not valid YAML ({what}); fix the '
                          f'file') from None
    except UnicodeDecodeError:
        raise ConfigError(f'{path}: not UTF-8 text; give a YAML '
                          f'config') from None
    except OSError as e:
        raise ConfigError(f'{path}: cannot read the config ({e.strerror}); '
                          f'give an experiment ID (vox list) or the path '
                          f'of a config.yaml') from None
    if not isinstance(raw, dict):
        raise ConfigError(f'{path}: expected a mapping at the top level')
    return raw


def resolve(raw, profile, where):
    """The faithful mapping with ``profile``'s overrides merged in."""
    profiles = raw.get('profiles') or {}
    base = {k: v for k, v in raw.items() if k != 'profiles'}
    if profile in (None, '', 'faithful'):
        return base
    if profile not in profiles:
        raise ConfigError(
            f"{where}: unknown profile '{profile}'; known profiles: "
            f"{', '.join(['faithful'] + sorted(profiles))}")
    merged = deep_merge(base, profiles[profile])
    merged['profile'] = profile
    return merged
