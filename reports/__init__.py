"""Reports for Bappeda: the weekly digest and its chart, the push to Bappeda's systems, the
Direktori Inovasi exports. Channel-agnostic: the core's commands and the CLI both use it; it
reads through ``storage`` and never imports a channel."""
