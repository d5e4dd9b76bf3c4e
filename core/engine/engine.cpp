// The engine: loading a plan, the forward passes, sampling and generation.
