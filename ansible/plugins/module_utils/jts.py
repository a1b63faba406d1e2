# -*- coding: utf-8 -*-
# Copyright: JTS storage team
# MIT OR Apache-2.0 (see the collection's galaxy.yml)
"""Running jts-provision with --json and reading what it prints.

The modules hold no jts logic: they build an argument list, run the binary, and hand back
its JSON and its own messages.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json


def global_args(module, config):
    """`--config FILE [--root DIR] --json`, from the module's `root` parameter."""
    args = ['--config', config]
    if module.params.get('root'):
        args += ['--root', module.params['root']]
    return args + ['--json']


def run(module, config, command, check_rc=None):
    """Runs `binary GLOBAL COMMAND...`; returns (rc, documents, stdout, stderr), where
    documents are the JSON values printed on stdout, in order."""
    binary = module.params['binary']
    argv = [binary] + global_args(module, config) + list(command)
    rc, stdout, stderr = module.run_command(argv, environ_update={'NO_COLOR': '1'})
    documents = []
    decoder = json.JSONDecoder()
    text = stdout.strip()
    while text:
        try:
            value, end = decoder.raw_decode(text)
        except ValueError:
            break
        documents.append(value)
        text = text[end:].strip()
    if check_rc is not None and rc not in check_rc:
        fail(module, argv, rc, documents, stdout, stderr)
    return rc, documents, stdout, stderr


def message(rc, documents, stderr):
    """jts's own message: its stderr (errors, refusals, warnings), else the errors and
    refusals of its JSON."""
    lines = [line for line in stderr.splitlines() if line.strip()]
    if not lines:
        for document in documents:
            failed = document.get('failed') if isinstance(document, dict) else None
            if isinstance(failed, dict):
                step = failed.get('step') or {}
                lines.append('%s: failed: %s' % (step.get('description'), failed.get('error')))
            lines += document.get('errors', []) if isinstance(document, dict) else []
            for refusal in document.get('refused', []) if isinstance(document, dict) else []:
                lines.append('%s: %s; fix: %s' % (refusal.get('object'), refusal.get('reason'), refusal.get('fix')))
    return '\n'.join(lines) or 'jts-provision exited %d' % rc


def fail(module, argv, rc, documents, stdout, stderr, **extra):
    """Fails the task with jts's message and exit code."""
    module.fail_json(msg=message(rc, documents, stderr), rc=rc, cmd=argv, stdout=stdout, stderr=stderr, **extra)
