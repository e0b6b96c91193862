// Package report speaks to the workflow: log groups with timings, masks and annotations, step
// outputs, and the Markdown job summary.
package report
