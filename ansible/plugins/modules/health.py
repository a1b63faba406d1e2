#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: JTS storage team
# MIT OR Apache-2.0 (see the collection's galaxy.yml)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: health
short_description: Read a host's storage health from jts-provision as facts
version_added: 0.1.0
description:
  - Runs C(jts-provision health --json) and returns its report as the fact C(jts_health), with
    the overall status, the status of each tier, and each mount's status and message.
  - The statuses are jts's, under the spec's C([health]) thresholds. A WARNING or CRITICAL host
    is not a failed task; decide with C(failed_when) (see the examples).
  - Changes nothing, so it runs in check mode too.
author:
  - JTS storage team (@jts)
options:
  config:
    description: The host spec on the managed host (jts-provision C(--config)).
    type: path
    default: /etc/jts/storage.toml
  root:
    description: The directory the spec is re-rooted under (jts-provision C(--root)).
    type: path
  binary:
    description: The jts-provision to run.
    type: path
    default: /usr/bin/jts-provision
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
seealso:
  - module: jts.storage.provision
'''

EXAMPLES = r'''
- name: Read storage health
  jts.storage.health:
  register: health

- name: Fail the play on a critical host only
  jts.storage.health:
  register: health
  failed_when: health.status == 'critical'

- name: Fail when the cold tier is anything but ok
  jts.storage.health:
  register: health
  failed_when: health.tiers.cold | default('ok') != 'ok'

- name: Show what is wrong
  ansible.builtin.debug:
    msg: "{{ item.mount }}: {{ item.message }}"
  loop: "{{ ansible_facts.jts_health.mounts | rejectattr('status', 'equalto', 'ok') }}"
'''

RETURN = r'''
status:
  description: The overall status, the worst of every check.
  returned: always
  type: str
  sample: warning
tiers:
  description: The worst status of each tier.
  returned: always
  type: dict
  sample: {"hot": "ok", "warm": "warning", "cold": "ok"}
mounts:
  description: Each managed mount's tier, mount point, status and message.
  returned: always
  type: list
  elements: dict
  sample: [{"tier": "warm", "mount": "/data/warm-storage", "status": "warning", "message": "space 84.1% used (warn 80%, crit 90%)"}]
exit_code:
  description: jts-provision's monitoring-plugin exit code (0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN).
  returned: always
  type: int
  sample: 1
report:
  description: The whole report, in jts-provision's C(health --json) schema.
  returned: always
  type: dict
ansible_facts:
  description: C(jts_health) holds RV(status), RV(tiers), RV(mounts) and RV(report).
  returned: always
  type: dict
  contains:
    jts_health:
      description: The same values as the module's return.
      type: dict
      returned: always
'''

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.jts.storage.plugins.module_utils import jts


def main():
    module = AnsibleModule(
        argument_spec=dict(
            config=dict(type='path', default='/etc/jts/storage.toml'),
            root=dict(type='path'),
            binary=dict(type='path', default='/usr/bin/jts-provision'),
        ),
        supports_check_mode=True,
    )
    config = module.params['config']
    rc, documents, stdout, stderr = jts.run(module, config, ['health'])
    report = documents[0] if documents else None
    # health exits with the plugin code: 2 is CRITICAL, and also an invalid spec; the JSON
    # says which (a report, or the spec's errors).
    if rc not in (0, 1, 2, 3) or not isinstance(report, dict) or 'status' not in report:
        argv = [module.params['binary']] + jts.global_args(module, config) + ['health']
        jts.fail(module, argv, rc, documents, stdout, stderr)
    mounts = [dict(tier=p.get('tier'), mount=p.get('mount'), status=p.get('status'), message=p.get('message'))
              for p in report.get('probes', [])]
    facts = dict(status=report['status'], tiers=report.get('tiers', {}), mounts=mounts, report=report)
    module.exit_json(changed=False, exit_code=rc, ansible_facts=dict(jts_health=facts), **facts)


if __name__ == '__main__':
    main()
