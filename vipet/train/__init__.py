"""Training: typed YAML configs, the shared accelerate loop, the three stages, generation.

Entry points: `vipet.train.config.load_config`, `vipet.train.run.train`,
`vipet.train.generate.generate_to_file`, and `vipet.train.predict` for `vipet generate`.
"""
