# Issue 6 ("Operations"): the air-gap runbook of docs/air-gap.md followed
# literally with the real pip (fill, export, import, serve offline), gc on a
# running server, and the deploy/ files (example config, k8s YAML, systemd unit).
imx_integration_test(d_airgap SCRIPT ${CMAKE_CURRENT_SOURCE_DIR}/integration/d_airgap.py)
imx_integration_test(d_deploy SCRIPT ${CMAKE_CURRENT_SOURCE_DIR}/integration/d_deploy.py)
