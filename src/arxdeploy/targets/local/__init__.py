"""The local target: the app's processes on this machine, behind a built-in router.

``client`` is the CLI side (``LocalTarget``, which implements ``arxdeploy.ports.Target``); it
talks over loopback HTTP to the ``runtime``, a daemon started on demand (one per state
directory) that supervises the replicas (``supervisor``) and hosts the routers (``router``).
``files`` says where both sides keep their files.
"""
