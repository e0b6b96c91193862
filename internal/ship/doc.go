// Package ship has no code of its own: its tests check what is shipped — the Dockerfile's rules,
// the build context, the action's image assembled as the Dockerfile describes it and run, the
// workflows (actionlint and their pinning and permissions) and the release's pinning of
// action.yml.
package ship
