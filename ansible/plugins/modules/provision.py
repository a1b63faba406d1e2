#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: JTS storage team
# MIT OR Apache-2.0 (see the collection's galaxy.yml)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: provision
short_description: Bring a host's storage to its jts-storage spec with jts-provision
version_added: 0.1.0
description:
  - Runs C(jts-provision plan) and C(jts-provision apply) with C(--json) and reports what they did.
    Every decision (what to create, mount, chmod, refuse) is jts-provision's; this module only
    runs it and returns its JSON.
  - In check mode only C(plan) runs, and nothing on the host changes.
  - With C(--diff), the planned steps are shown, and the spec file's change when O(spec) is inline.
  - C(apply) enables, and on a live host starts, the systemd timers the spec renders (health,
    tiering, fstrim, snapshots, backups), so no separate task is needed for them.
  - Bad input and refusals fail the task with jts-provision's own message and exit code
    (2 invalid spec, 3 refused without consent, 1 a step failed).
author:
  - JTS storage team (@jts)
options:
  spec:
    description:
      - The host spec. One of the path of a TOML file on the managed host; the spec itself as TOML
        text (any string with a newline), for example from C(lookup('template', ...)); or the spec
        as YAML, a dictionary with the TOML spec's keys and nesting, written as TOML.
      - An inline spec (TOML text or YAML) is written to O(dest), atomically and only when it
        differs; the units C(apply) renders run jts-provision with that file as C(--config).
    type: raw
    required: true
  dest:
    description:
      - Where an inline O(spec) is kept on the managed host. Ignored when O(spec) is a path.
    type: path
    default: /etc/jts/storage.toml
  root:
    description:
      - Manage the system under this directory instead of C(/) (jts-provision C(--root)). Spec
        paths, C(/etc/passwd), C(/etc/fstab), units and the journal are re-rooted; block devices
        are not. The directory must exist.
    type: path
  allow_destroy:
    description:
      - Objects jts-provision may destroy (C(--allow-destroy)); the spec's C(allow_destroy) must
        name them too.
    type: list
    elements: str
    default: []
  state:
    description:
      - V(present) plans and applies. V(validated) only runs C(jts-provision validate) and fails
        when the host has drifted from the spec, listing the drift; it never changes anything.
    type: str
    choices: [present, validated]
    default: present
  binary:
    description:
      - The jts-provision to run.
    type: path
    default: /usr/bin/jts-provision
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
notes:
  - Needs root on the managed host for anything but O(state=validated) of a readable tree.
seealso:
  - module: jts.storage.health
'''

EXAMPLES = r'''
- name: Provision storage from the spec in /etc/jts/storage.toml
  jts.storage.provision:
    spec: /etc/jts/storage.toml

- name: Provision from a spec templated per host (written to /etc/jts/storage.toml)
  jts.storage.provision:
    spec: "{{ lookup('template', 'storage.toml.j2') }}"

- name: Provision from a spec given as YAML (written as TOML to /etc/jts/storage.toml)
  jts.storage.provision:
    spec:
      version: 1
      groups:
        dba: {gid: 2001}
      directories:
        - {path: /data/jts/hot/postgresql, owner: root, group: dba, mode: "0750"}

- name: Allow shrinking one volume (the spec's allow_destroy names it too)
  jts.storage.provision:
    spec: /etc/jts/storage.toml
    allow_destroy: [lv_kafka]

- name: Fail when the host has drifted from its spec
  jts.storage.provision:
    spec: /etc/jts/storage.toml
    state: validated
'''

RETURN = r'''
steps:
  description:
    - The steps run (or, in check mode and for O(state=validated), planned), in order, as
      jts-provision's JSON gives them.
  returned: always
  type: list
  elements: dict
  sample: [{"kind": "Chmod", "object": "/data/jts/hot/kafka", "description": "chmod /data/jts/hot/kafka: 0777 -> 0750"}]
drift:
  description: What differs from the spec, one entry per object, before this run changed anything.
  returned: always
  type: list
  elements: dict
  sample: [{"object": "/data/jts/hot/kafka", "path": "/data/jts/hot/kafka", "expected": "mode 0750", "actual": "mode 0777"}]
journal:
  description: The journal of this apply (JSON lines), when steps ran.
  returned: when steps ran
  type: str
  sample: /var/lib/jts/journal/apply-20261203T231500Z-4242.jsonl
config:
  description: The spec file jts-provision was given.
  returned: always
  type: str
  sample: /etc/jts/storage.toml
rc:
  description: jts-provision's exit code.
  returned: always
  type: int
  sample: 0
'''

import os
import tempfile

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.jts.storage.plugins.module_utils import jts
from ansible_collections.jts.storage.plugins.module_utils import toml_text


def read(path):
    try:
        with open(path, 'r') as handle:
            return handle.read()
    except (IOError, OSError):
        return None


def stage_spec(module, text, dest, keep):
    """Writes an inline spec: to `dest`, atomically, when `keep`; else to a temp file."""
    if not keep:
        fd, path = tempfile.mkstemp(prefix='jts-spec-', suffix='.toml', dir=module.tmpdir)
        with os.fdopen(fd, 'w') as handle:
            handle.write(text)
        return path
    parent = os.path.dirname(dest)
    if not os.path.isdir(parent):
        os.makedirs(parent, 0o755)
    fd, temp = tempfile.mkstemp(prefix='.storage.toml.', dir=parent)
    with os.fdopen(fd, 'w') as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.chmod(temp, 0o644)
    module.atomic_move(temp, dest)
    return dest


def step_lines(steps):
    """The steps as `jts-provision plan` prints them: a numbered description, then its commands."""
    lines = []
    for index, step in enumerate(steps, 1):
        lines.append('%4d. %s' % (index, step.get('description')))
        lines.extend('        $ %s' % command for command in step.get('commands', []))
    return ''.join(line + '\n' for line in lines)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            spec=dict(type='raw', required=True),
            dest=dict(type='path', default='/etc/jts/storage.toml'),
            root=dict(type='path'),
            allow_destroy=dict(type='list', elements='str', default=[]),
            state=dict(type='str', choices=['present', 'validated'], default='present'),
            binary=dict(type='path', default='/usr/bin/jts-provision'),
        ),
        supports_check_mode=True,
    )
    params = module.params
    if not os.path.exists(params['binary']):
        module.fail_json(msg='%s not found: install the jts-provision package, or set binary' % params['binary'])
    spec = params['spec']
    if isinstance(spec, dict):
        try:
            spec = toml_text.dumps(spec, header='Written by jts.storage.provision from a YAML spec; edits here are overwritten.')
        except toml_text.TomlError as err:
            module.fail_json(msg='spec: %s' % err)
    elif not isinstance(spec, str):
        module.fail_json(msg='spec must be a path, TOML text or a YAML mapping, not %s' % type(spec).__name__)
    spec_changed = False
    before = None
    if '\n' in spec:
        before = read(params['dest'])
        spec_changed = before != spec
        keep = spec_changed and params['state'] == 'present' and not module.check_mode
        config = stage_spec(module, spec, params['dest'], keep) if spec_changed else params['dest']
    else:
        config = spec
    consent = []
    for name in params['allow_destroy']:
        consent += ['--allow-destroy', name]

    result = dict(changed=False, config=config, steps=[], drift=[])
    if params['state'] == 'validated':
        rc, documents, stdout, stderr = jts.run(module, config, ['validate'], check_rc=[0, 4])
        result.update(rc=rc, drift=documents[0].get('drift', []) if documents else [])
        if rc == 4:
            lines = ['%s: expected %s, found %s' % (d.get('path') or d.get('object'), d.get('expected'), d.get('actual'))
                     for d in result['drift']]
            module.fail_json(msg='the host has drifted from %s:\n%s' % (config, '\n'.join(lines)), **result)
        module.exit_json(**result)

    rc, documents, stdout, stderr = jts.run(module, config, ['plan'] + consent, check_rc=[0])
    planned = documents[0].get('steps', []) if documents else []
    for line in stderr.splitlines():
        if line.startswith('warning: '):
            module.warn(line[len('warning: '):])
    result.update(rc=rc, steps=planned, drift=[step['drift'] for step in planned if step.get('drift')])
    if module._diff:
        diffs = []
        if spec_changed:
            diffs.append(dict(before_header=params['dest'], after_header=params['dest'], before=before or '', after=spec))
        if planned:
            diffs.append(dict(prepared='jts-provision plan: %d steps\n%s' % (len(planned), step_lines(planned))))
        result['diff'] = diffs
    if module.check_mode:
        result['changed'] = spec_changed or bool(planned)
        module.exit_json(**result)

    argv = [params['binary']] + jts.global_args(module, config) + ['apply'] + consent
    rc, documents, stdout, stderr = jts.run(module, config, ['apply'] + consent)
    report = documents[0] if documents else {}
    done = report.get('done', [])
    result.update(rc=rc, steps=done, changed=spec_changed or bool(done))
    if report.get('journal'):
        result['journal'] = report['journal']
    if rc != 0:
        failed = report.get('failed')
        jts.fail(module, argv, rc, documents, stdout, stderr, changed=result['changed'], steps=done,
                 failed=failed, not_attempted=report.get('not_attempted', []), journal=result.get('journal'),
                 config=config, drift=result['drift'])
    module.exit_json(**result)


if __name__ == '__main__':
    main()
