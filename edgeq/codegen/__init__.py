"""Code generation: naming, memory planning and Jinja emission of C sources."""
