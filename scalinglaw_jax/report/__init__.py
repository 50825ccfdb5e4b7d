"""What a command leaves behind: ``report.html`` (``page``) and the output folder's files
(``outputs``: summary.json, owned files, atomic writes)."""
