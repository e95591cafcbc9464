"""Expert review: reviewers' lesion lists and sentence labels in SQLite, export to the expert format, agreement.

What the reading room's review screen stores and what comes out of it, with no web code:
`store` keeps reviewers, work items (study, report) and every saved revision of a review in one
SQLite file that several sessions write at once; `export` writes the official expert JSON files
that `vipet evaluate --expert` reads and a CSV of sentence labels; `agreement` scores how well
two reviewers agree (lesion-level clinical F1, Cohen's kappa on sentence labels).
"""
