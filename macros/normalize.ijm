// normalize.ijm -- normalise the active image to mean 0 and standard deviation 1.
//
// Part of fiji_bridge ("Einstein from noise").  Runs unchanged in Fiji / ImageJ 1.53f or later:
// open an image, then Plugins > Macros > Run... and pick this file, or open it in the Script
// Editor (File > Open..., language "IJ1 Macro") and press Run.  From Python:
// fiji_bridge.imagej.macros.normalize_with_macro(imp).
//
// What it does, on the active image, in place (as the menu commands would):
//   1. Image > Type > 32-bit                         run("32-bit")
//   2. mean and standard deviation from ImageJ       getRawStatistics (one image) or
//                                                    Stack.getStatistics (a stack: all slices)
//   3. Process > Math > Macro  v = (v - mean) / stdev  (every slice of a stack)
// The numbers are written into the Math>Macro code with 17 significant digits: ImageJ's plain
// number-to-string conversion keeps only 4 decimals, which would leave a visible offset.
// stdev is ImageJ's SAMPLE standard deviation, sqrt(sum((v - mean)^2) / (n - 1)) (numpy's
// std(ddof=1)), so the result has mean 0 and sample stdev 1.
// A selection on the image is ignored (the whole image is measured and normalised).
//
// Returns (macro "return"; also printed to the Log when run without an argument):
// "mean=<m> stdev=<s>",
// the values that were subtracted and divided by, with 17 significant digits.
// An image that is constant (stdev 0) or holds NaN / infinite values is refused: run by hand, a
// message box says why; with an argument (from another macro or Python) the macro returns
// "error=<why>" instead (ImageJ without its main window would only print the message box's
// text to the console).

requires("1.53f");
result = normalizeActiveImage();
if (getArgument() == "") {
    if (startsWith(result, "error="))
        exit(substring(result, 6));  // a message box
    print("normalize.ijm: " + result);
}
return result;

// Normalise the active image; returns "mean=<m> stdev=<s>", or "error=<why>".
function normalizeActiveImage() {
    if (nImages == 0)
        return "error=normalize.ijm needs an open image. Open one first (File > Open...).";
    run("Select None");
    run("32-bit");
    total = getWidth() * getHeight() * nSlices;
    if (nSlices > 1) {
        Stack.getStatistics(count, mean, min, max, stdev);
        stackOption = " stack";
    } else {
        getRawStatistics(count, mean, min, max, stdev);
        stackOption = "";
    }
    // ImageJ's statistics skip NaN pixels (count < total); infinities make mean/stdev non-finite.
    if (count != total || isNaN(mean) || isNaN(stdev) || abs(mean) == 1/0 || abs(stdev) == 1/0)
        return "error=normalize.ijm: the image holds NaN or infinite values, so mean and stdev"
               + " are undefined.";
    if (stdev == 0)
        return "error=normalize.ijm: the image is constant (stdev 0) and cannot be normalised.";
    // (the mean is bracketed: "v--0.5" would read as the decrement operator v--)
    run("Macro...", "code=[v=(v-(" + fullPrecision(mean) + "))/" + fullPrecision(stdev) + "]" + stackOption);
    resetMinAndMax();
    return "mean=" + fullPrecision(mean) + " stdev=" + fullPrecision(stdev);
}

// A number as text with 17 significant digits (a double's full precision).  String.format
// follows the computer's locale, so a decimal comma is turned back into a point.
function fullPrecision(x) {
    return replace(String.format("%.17g", x), ",", ".");
}
