"""An example notion-batch handler plugin (see ``triage``)."""
