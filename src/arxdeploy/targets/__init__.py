"""Where colors run. Each subpackage is one target and the only place its SDKs are imported."""
