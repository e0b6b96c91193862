// Package config turns the action's inputs (INPUT_*, or the command-line flags that mirror
// them), the runner's environment (GITHUB_*, RUNNER_*, ACTIONS_ID_TOKEN_REQUEST_*,
// SOURCE_DATE_EPOCH) and the event payload into one validated, typed Config, reporting every bad
// input at once by name. It is the only code of bom-attest that reads the environment, and reads
// it only through the Getenv run hands it; libraries keep their own conventions (the Docker
// credential store under DOCKER_CONFIG or HOME, TMPDIR). Input files are checked here first —
// regular files, a directory for patches-dir, a trusted root that parses — before any stage
// opens them.
package config
