"""The Jupyter server extension: REST over the store, jobs and deployments for the sidebar.

Enabled on install through ``jupyter-config/server-config/modelshelf.json``; the server finds
it through :func:`modelshelf._jupyter_server_extension_points`. This package is a face: it
imports the core, never the other way round.
"""
