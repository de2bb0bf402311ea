#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: whotouched.server_audit contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

# The work is done by the action plugin of the same name, on the controller; this file
# only carries the documentation, as ansible.windows does for its action plugins.

from __future__ import annotations

DOCUMENTATION = r"""
---
module: win_audit_policy
short_description: Set Windows advanced audit policy subcategories by GUID, in any display language
version_added: 0.1.0
description:
  - Sets the success and failure auditing of Windows advanced audit policy subcategories.
  - Works on every display language of Windows. The current policy is read with C(auditpol /backup),
    whose subcategory GUIDs and numeric settings do not depend on the language, and changes are made
    with C(auditpol /set /subcategory:{GUID}). Localized names and setting words are never matched.
  - Only the subcategories that differ are set; the policy is then read back to prove the change held.
  - Runs as an action plugin on the controller. On the host it only uses M(ansible.windows.win_tempfile),
    M(ansible.windows.win_command), M(ansible.windows.slurp) and M(ansible.windows.win_file).
options:
  subcategories:
    description:
      - The subcategories to set.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description:
          - The subcategory's English name as C(auditpol /list /subcategory:*) prints it on an English Windows
            (case does not matter, a leading C(Audit) is ignored), or its GUID with or without braces.
          - The English name is accepted on every language edition; it is turned into the GUID on the controller.
          - An unknown name or GUID fails the task before anything is set.
        type: str
        required: true
      success:
        description:
          - Audit successful attempts.
        type: bool
        default: false
      failure:
        description:
          - Audit failed attempts.
        type: bool
        default: false
  mode:
    description:
      - V(exact) sets each listed subcategory to exactly the listed flags, switching a flag off when it is V(false).
      - V(include) only switches flags on, never off, so stricter auditing set by others is kept.
      - Subcategories that are not listed are never changed in either mode.
    type: str
    choices: [exact, include]
    default: exact
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: The policy is read in check mode too, so the reported changes are those a real run would make.
  diff_mode:
    support: full
  platform:
    platforms: windows
notes:
  - Needs administrator rights on the host (C(auditpol) requires them).
  - A domain Group Policy with Advanced Audit Policy Configuration overwrites the local policy at its next refresh.
    Set the policy in the GPO for domain members; the task fails if the policy read back after a change differs.
  - For subcategory settings to take effect over the legacy category settings, set
    C(HKLM\SYSTEM\CurrentControlSet\Control\Lsa\SCENoApplyLegacyAuditPolicy) to 1 (the
    P(whotouched.server_audit.windows_evtsys_policy#role) role does).
seealso:
  - module: ansible.windows.win_audit_policy_system
  - name: "[MS-GPAC] advanced audit policy file format"
    description: The CSV format written by C(auditpol /backup), with its numeric Setting Value column.
    link: https://learn.microsoft.com/en-us/openspecs/windows_protocols/ms-gpac/6494a0f2-8a16-40e2-b87d-328be7d732e0
author:
  - whotouched.server_audit contributors (@whotouched)
"""

EXAMPLES = r"""
- name: Audit account logon and account management, success and failure
  whotouched.server_audit.win_audit_policy:
    subcategories:
      - { name: Credential Validation, success: true, failure: true }
      - { name: Kerberos Authentication Service, success: true, failure: true }
      - { name: User Account Management, success: true, failure: true }
      - { name: "{0CCE9237-69AE-11D9-BED3-505054503030}", success: true, failure: true }

- name: Only add failure auditing of logons, keep whatever else is set
  whotouched.server_audit.win_audit_policy:
    mode: include
    subcategories:
      - name: Logon
        failure: true
"""

RETURN = r"""
mode:
  description: The mode used.
  returned: always
  type: str
  sample: exact
before:
  description: The listed subcategories before the run, by GUID.
  returned: always
  type: dict
  sample:
    "{0CCE923F-69AE-11D9-BED3-505054503030}":
      name: Credential Validation
      localized_name: Überprüfen der Anmeldeinformationen
      success: false
      failure: false
after:
  description:
    - The listed subcategories after the run, by GUID, as read back from the host.
    - In check mode, what a real run would leave.
  returned: always
  type: dict
  sample:
    "{0CCE923F-69AE-11D9-BED3-505054503030}":
      name: Credential Validation
      localized_name: Überprüfen der Anmeldeinformationen
      success: true
      failure: true
changes:
  description: The subcategories that were (or in check mode would be) changed.
  returned: always
  type: list
  elements: dict
  sample:
    - guid: "{0CCE923F-69AE-11D9-BED3-505054503030}"
      name: Credential Validation
      before: {name: Credential Validation, localized_name: Credential Validation, success: false, failure: false}
      after: {name: Credential Validation, localized_name: Credential Validation, success: true, failure: true}
commands:
  description: The C(auditpol) commands run (or in check mode that would run), by GUID only.
  returned: always
  type: list
  elements: str
  sample:
    - auditpol.exe /set /subcategory:{0CCE923F-69AE-11D9-BED3-505054503030} /success:enable /failure:enable
"""
