// Package report writes a batch's report: report.html in the output
// folder, one self-contained page to look at what a batch rendered. It
// heads with the counts by state and the spend, shows a grid of the
// rendered clips (each a <video> of the file beside the page) with its key,
// prompt, seed and duration, lists the failures grouped by message
// (reasons.Normalize, as `pikabatch status` groups them) with their keys,
// and filters by state.
//
// The page needs nothing but itself and the videos: its CSS and script are
// inline, a Content-Security-Policy forbids every other origin, and every
// video's src is a relative path to the file in the output folder, so the
// page opens from disk and keeps working when the folder is moved or
// copied whole.
//
// Everything the page shows comes from the state file (the manifest's text,
// the API's messages), so it is hostile: a prompt may hold "</script>",
// quotes or terminal escapes. It goes into the page only as JSON inside a
// <script type="application/json"> block, encoded with '<', '>' and '&'
// escaped so that nothing in it can end the block, and the page's script
// puts it on screen with textContent and DOM properties only, never as
// markup. The script and the style are allowed by their hashes, so even a
// value that found a way into the markup could not run.
//
// The report is streamed: the jobs are read once, in key order, and each is
// written as it is read, so memory stays flat however large the batch; the
// browser shows the grid a page of cards at a time as it is scrolled, so
// 10,000 jobs stay quick to open and scroll.
package report
