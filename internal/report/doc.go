// Package report speaks to the workflow — log groups with timings, masks and annotations, step
// outputs, and the Markdown job summary — and is the one place that escapes text the action did
// not write itself (from the image, input files, servers, paths).
//
// The log's rule. In Infof, Noticef, Warningf and Errorf the format string is the action's own
// text and every argument is untrusted; Stage's name is untrusted as a whole. An argument is
// formatted with its verb and then escaped: line breaks and all other control characters become
// visible escapes (\n, \r, \x1b, \u2028), so it can never start a new line. A plain line whose
// first visible character — after the white space the runner skips — comes from an argument, or
// that starts with "::" however it was assembled, is written after "- ", so no line the runner
// reads can begin with text from outside. "##[", the runner's older command syntax that it
// honours anywhere in a line, is broken up as "#\#[". Numbers, durations and booleans are not
// text and are left alone, unless printed as characters (%c, %q, %U). An annotation's message is
// escaped once more as GitHub's command data (%, CR, LF), and the action's own commands
// (::add-mask::, ::group::, ::error::, …) are written only here; the Log writes no command
// properties. Step outputs go through random heredoc delimiters, or, printed locally, are
// escaped as arguments are.
//
// The summary's rule. Strings are text: Text escapes HTML and Markdown syntax and puts anything
// GitHub would autolink in a code span. Markdown (a distinct type) is what the action vouches
// for; Code, Link and Markdownf build it from untrusted parts safely.
package report
