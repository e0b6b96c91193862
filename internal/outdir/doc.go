// Package outdir writes the action's files into output-dir whole or not at all, owned by the
// workspace's owner when the action runs as root in its container, names and makes the
// directory of each image of a run of several, and clears what an earlier run left there under
// the action's own file names.
package outdir
