"""Reports: report.json is the source of truth; terminal, Markdown and HTML render it."""
