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
          - Read by openstacksdk's C(openstack.config) loader, as the C(openstack) CLI and the openstack.cloud
            collection read it - C(clouds.yaml) found through E(OS_CLIENT_CONFIG_FILE), C(./),
            C(~/.config/openstack/), C(/etc/openstack/); C(secure.yaml) merged over it; E(OS_*) variables.
          - keystoneauth1 authenticates by the cloud's C(auth_type) - V(password) (the default),
            V(v3applicationcredential), V(token) (exchanged at Keystone for a token of the cloud's project),
            V(admin_token) (C(auth.token) sent as it is to C(auth.endpoint)), V(none) (no token) and the other
            keystoneauth1 plugins; the image endpoint is C(image_endpoint_override), else the one of the
            service catalog for the cloud's C(interface) and C(region_name). A token about to expire is
            renewed before a request, and a request Glance refuses with 401 is sent once more with a new one.
          - Needs the Python package C(openstacksdk) (it brings C(keystoneauth1)) where the module runs; O(glance.url)
            with O(glance.token) needs neither.
        type: str
      project_id:
        description: Project to act in (sent as C(X-Tenant-Id); for a Glance without Keystone, also with a cloud
          of C(auth_type) V(none)).
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
