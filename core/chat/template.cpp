// Chat templates: a Jinja-subset interpreter and built-in fallbacks.
