"""``notifctl``: the operator's command line."""
