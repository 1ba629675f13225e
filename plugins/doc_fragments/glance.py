# -*- coding: utf-8 -*-
# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations


class ModuleDocFragment:
    # The glance option of module_utils/glance/client.py glance_argument_spec().
    DOCUMENTATION = r'''
options:
  glance:
    description: Where Glance is, and how to authenticate.
    type: dict
    suboptions:
      url:
        description:
          - Endpoint of Glance (before C(/v2)), as reachable from the controller and from the hypervisor
            that sends or fetches the image data.
          - If not set, the environment variable E(OS_IMAGE_URL) is used.
        type: str
      token:
        description:
          - A Keystone token. If not set, E(OS_AUTH_TOKEN) is used.
        type: str
      cloud:
        description:
          - Name of a cloud in C(clouds.yaml); E(OS_CLOUD) if not set. Wins over O(glance.url).
          - The file is found as openstacksdk finds it, the first one there wins - E(OS_CLIENT_CONFIG_FILE),
            then C(./clouds.yaml), C(~/.config/openstack/clouds.yaml), C(/etc/openstack/clouds.yaml) (also
            C(.yml), C(.json)); a C(secure.yaml) in the same places is merged over it.
          - By the cloud's C(auth_type) - V(none) or V(noauth) send no token to C(image_endpoint_override)
            (or C(auth.endpoint)); V(admin_token), or V(token) with C(image_endpoint_override), send C(auth.token)
            as it is; V(password) (the default) and V(token) without an override authenticate with Keystone v3
            at C(auth.auth_url) and use the image endpoint of its service catalog.
        type: str
      project_id:
        description: Project to act in (sent as C(X-Tenant-Id); for a Glance without Keystone).
        type: str
      roles:
        description: Roles to claim (C(X-Roles); for a Glance without Keystone only).
        type: list
        elements: str
      validate_certs:
        description:
          - Whether to verify Glance's TLS certificate.
          - With O(glance.cloud), the cloud's C(verify) and C(cacert) apply unless this is V(false)
            or O(glance.ca_path) is given.
        type: bool
        default: true
      ca_path:
        description: CA bundle to verify Glance against.
        type: path
      timeout:
        description: Seconds for one Glance request, and for an image to go active after its upload.
        type: int
        default: 300
'''
