"""The dataset doctor: data-quality findings over a whole cohort root, with a policy of errors and warnings."""
