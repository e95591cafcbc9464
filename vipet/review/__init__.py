"""Expert review: reviewers' lesion lists and sentence labels in SQLite, export to the expert format, agreement."""
