# -*- coding: utf-8 -*-
# Copyright: JTS storage team
# MIT OR Apache-2.0 (see the collection's galaxy.yml)
"""A spec given as YAML (a dict) written as TOML for jts-provision.

Only what a spec holds: strings, integers, floats, booleans, arrays of those, tables and
arrays of tables. Strings and arrays of scalars use JSON's syntax, which is TOML's too.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import re

BARE_KEY = re.compile(r'^[A-Za-z0-9_-]+$')


class TomlError(ValueError):
    """A value TOML cannot hold (null, or an array mixing tables and scalars)."""


def _key(name):
    name = str(name)
    return name if BARE_KEY.match(name) else json.dumps(name)


def _is_tables(value):
    return isinstance(value, list) and len(value) > 0 and all(isinstance(item, dict) for item in value)


def _scalar(value, where):
    if value is None:
        raise TomlError('%s is null: TOML has no null; remove the key' % where)
    if isinstance(value, list):
        if any(isinstance(item, (dict, list)) or item is None for item in value):
            raise TomlError('%s mixes tables or arrays into an array of values' % where)
    return json.dumps(value)


def _table(values, path, lines):
    for name, value in values.items():
        if not isinstance(value, dict) and not _is_tables(value):
            lines.append('%s = %s' % (_key(name), _scalar(value, '.'.join(path + [str(name)]))))
    for name, value in values.items():
        if isinstance(value, dict):
            lines.extend(['', '[%s]' % '.'.join(path + [_key(name)])])
            _table(value, path + [_key(name)], lines)
    for name, value in values.items():
        if _is_tables(value):
            for item in value:
                lines.extend(['', '[[%s]]' % '.'.join(path + [_key(name)])])
                _table(item, path + [_key(name)], lines)


def dumps(spec, header=None):
    """The TOML text of `spec` (a dict), after an optional comment line."""
    lines = ['# %s' % header] if header else []
    _table(spec, [], lines)
    return '\n'.join(lines) + '\n'
