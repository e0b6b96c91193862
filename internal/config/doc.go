// Package config is the only reader of the action's inputs (INPUT_*, or command-line flags that
// mirror them) and of the GITHUB_*/RUNNER_* environment; it turns them into one validated Config.
package config
