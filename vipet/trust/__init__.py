"""Trust in reports and metrics: stated numbers checked against the image, metric report cards, stress curves."""
