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
from vox.base.files import NotAFile, read_text
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


#: Limits of :func:`load_yaml`, far above any vox file (the largest config
#: is a few KB, a few hundred values, nested six deep) and far below what
#: exhausts memory or Python's stack: a 1 KB "billion laughs" alias bomb
#: expands to 10**9 values, 20,000 nested brackets overflow the composer's
#: recursion.
YAML_MAX_BYTES = 1 << 20
YAML_MAX_DEPTH = 64
YAML_MAX_VALUES = 100_000


class _LimitedLoader(yaml.SafeLoader):
    """PyYAML's SafeLoader refusing nesting deeper than YAML_MAX_DEPTH while
    it composes (before the recursion that would overflow)."""

    def __init__(self, stream, where):
        super().__init__(stream)
        self.depth = 0
        self.where = where

    def compose_node(self, parent, index):
        self.depth += 1
        try:
            if self.depth > YAML_MAX_DEPTH:
                raise ConfigError(
                    f'{self.where}: nested more than {YAML_MAX_DEPTH} levels '
                    f'deep; a vox file needs a few: fix the file')
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


def _expanded_values(node, where, sizes, open_nodes):
    """How many values ``node`` stands for with every alias expanded (an
    alias is the same node object again), refusing more than
    YAML_MAX_VALUES or a node that contains itself."""
    key = id(node)
    if key in sizes:
        return sizes[key]
    if key in open_nodes:
        raise ConfigError(f'{where}: a YAML anchor (&name) contains its own '
                          f'alias (*name); fix the file')
    open_nodes.add(key)
    total = 1
    if isinstance(node, yaml.MappingNode):
        children = [n for pair in node.value for n in pair]
    elif isinstance(node, yaml.SequenceNode):
        children = node.value
    else:
        children = []
    for child in children:
        total += _expanded_values(child, where, sizes, open_nodes)
        if total > YAML_MAX_VALUES:
            raise ConfigError(
                f'{where}: stands for more than {YAML_MAX_VALUES} values '
                f'once its YAML aliases (*name) are expanded; a vox file '
                f'holds a few hundred: fix the file')
    open_nodes.discard(key)
    sizes[key] = total
    return total


def load_yaml(path, what='config'):
    """The one YAML reader of vox: the document in ``path``, or a one-line
    ConfigError.  Refused before they are parsed: what is not a regular
    file (a FIFO would block forever), more than YAML_MAX_BYTES; while
    parsing: nesting deeper than YAML_MAX_DEPTH, aliases expanding to more
    than YAML_MAX_VALUES values; then anything that is not valid UTF-8
    YAML.  ``what`` names the file's role in the advice."""
    try:
        text = read_text(path, limit=YAML_MAX_BYTES)
    except UnicodeDecodeError:
        raise ConfigError(f'{path}: not UTF-8 text; give a YAML '
                          f'{what}') from None
    except NotAFile as e:
        raise ConfigError(f'{path}: {e.problem}; give the path of a YAML '
                          f'{what}') from None
    except OSError as e:
        raise ConfigError(f'{path}: cannot read the {what} ({e.strerror}); '
                          f'give an experiment ID (vox list) or the path '
                          f'of a config.yaml') from None
    loader = _LimitedLoader(text, path)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _expanded_values(node, path, {}, set())
        return loader.construct_document(node)
    except yaml.YAMLError as e:
        mark = getattr(e, 'problem_mark', None)
        where = f':{mark.line + 1}' if mark is not None else ''
        problem = getattr(e, 'problem', None) or str(e).splitlines()[0]
        raise ConfigError(f'{path}{where}: not valid YAML ({problem}); fix '
                          f'the file') from None
    finally:
        loader.dispose()


def load_raw(path):
    """A config file's top-level mapping (:func:`load_yaml`)."""
    raw = load_yaml(path)
    if not isinstance(raw, dict):
        raise ConfigError(f'{path}: expected a mapping at the top level, '
                          f'got {_kind_of(raw)}; give a vox config.yaml')
    return raw


def _kind_of(value):
    return 'nothing (an empty file)' if value is None else \
        f'a {type(value).__name__}'


def check_profiles(raw, where):
    """``profiles:``, if given, maps names to mappings of overrides."""
    profiles = raw.get('profiles')
    if profiles is None:
        return {}
    if not isinstance(profiles, dict):
        raise ConfigError(f"{where}: 'profiles' must be a mapping of profile "
                          f"name -> overrides, got {_kind_of(profiles)}")
    for name, overrides in profiles.items():
        if not isinstance(name, str):
            raise ConfigError(f'{where}: profile name {name!r} must be text')
        if not isinstance(overrides, dict):
            raise ConfigError(f"{where}: profile '{name}' must be a mapping "
                              f"of overrides ({{}} for none), got "
                              f"{_kind_of(overrides)}")
    return profiles


def resolve(raw, profile, where):
    """The faithful mapping with ``profile``'s overrides merged in."""
    profiles = check_profiles(raw, where)
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
