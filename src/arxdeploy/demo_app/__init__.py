"""A small sample service to deploy with arxdeploy (see ``app.py``); used by the demo and the tests."""
