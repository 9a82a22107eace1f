"""The developer tools, run from the repository root as modules: `python -m tools.NAME`.

pr_benchmarks (the pull-request gate), history_job (the main job), latest_figures,
offline_html (offline pages), trust_study (the A/A and power study); asvkit is the one
helper they and the tests share for running asv. None of them is imported by the package
or by the asv suite.
"""
