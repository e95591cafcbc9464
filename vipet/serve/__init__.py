"""The reading room (`vipet serve`): a local web workstation to view studies, draft, ask and review."""
