"""Message templates as Meta approved them: the catalogue of each business account (WABA),
synced from Meta's ``message_templates`` API (``sync.py``) into ``ingest.templates``
(``catalogue.py``), and the check of every template send against it before it is accepted
(``definition.py``, ``validation.py``), so a send Meta would refuse costs no Cloud API call
and its tenant learns why at once."""
