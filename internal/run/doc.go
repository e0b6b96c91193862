// Package run is the only code that knows the order of the stages: it loads the config, clears
// output-dir of an earlier run's files, resolves and reads the image platform by platform
// (SBOM, pedigree, models), then makes statements and — unless this is a dry run — signs,
// stores and pushes them; it sets outputs only for finished work, writes the summary (with an
// account of what was and was not done after a failure), and maps the result to an exit code.
// OS is its one view of the process's environment, handed to config.
package run
