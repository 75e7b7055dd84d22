// average.ijm -- the true mean of slices start..stop of the active stack (Z Project, Average).
//
// Part of fiji_bridge ("Einstein from noise").  Runs unchanged in Fiji / ImageJ 1.53f or later:
// open a stack, then Plugins > Macros > Run... (or the Script Editor, language "IJ1 Macro").
// Run by hand it asks for the number of slices n; from another macro or from Python
// (fiji_bridge.imagej.macros.average_with_macro(imp, n)) the argument says which slices:
//   "n"            slices 1..n          e.g. runMacro("average.ijm", "25")
//   "start stop"   slices start..stop   e.g. "3 10"
//   ""             (run by hand) a dialog asks for n; all slices by default
//
// It runs Image > Stacks > Z Project..., projection "Average Intensity", and makes sure the
// result is the true mean on every ImageJ version:
//   * ImageJ 1.53t averages a 32-bit range WITHOUT its last slice (ZProjector's
//     doAverageFloatProjection stops at stop-1 and divides by the number of slices it summed;
//     fixed in 1.53u).  The macro does not trust version numbers: it projects a known 2-slice
//     32-bit stack (values 0 and 2, mean 1) and, when the answer is wrong, asks ImageJ for the
//     range start..stop+1, which that code averages as exactly start..stop.  When stop is the
//     last slice, it projects a copy with one extra (unused) slice appended (Image > Stacks >
//     Add Slice), and closes the copy.
//   * 8- and 16-bit stacks are averaged as 32-bit (a copy of the range is converted), since
//     ImageJ 1.53t rounds their average to whole numbers.
// The result (32-bit, one slice, titled "AVG_n=<n>" or "AVG_<start>-<stop>") is left as the
// active image; the stack itself is not changed.
// Returns (macro "return"): "slices=<start>-<stop> workaround=<yes|no> imagej=<version>",
// where workaround says whether the 1.53t correction was needed.  A bad range or no open stack
// is refused: run by hand, a message box says why; with an argument (another macro, Python) the
// macro returns "error=<why>" instead (ImageJ without its main window would only print the
// message box's text to the console).

requires("1.53f");
argument = String.trim(getArgument());
result = averageMain(argument);
if (argument == "") {
    if (startsWith(result, "error="))
        exit(substring(result, 6));  // a message box
    print("average.ijm: " + result);
    setBatchMode(false);  // show the result
}
return result;

// The whole macro; returns its result line, or "error=<why>".
function averageMain(argument) {
    if (nImages == 0)
        return "error=average.ijm needs an open stack. Open one first (File > Open...).";
    if (bitDepth() == 24)
        return "error=average.ijm averages grayscale stacks (8-, 16- or 32-bit); this one is RGB."
               + " Convert it first.";
    slices = nSlices;
    if (argument == "") {
        Dialog.create("Average of the first n slices");
        Dialog.addNumber("n (slices 1..n):", slices);
        Dialog.show();
        first = 1;
        last = Dialog.getNumber();
    } else {
        words = split(argument, " ,");
        first = 1;
        last = parseInt(words[0]);
        if (words.length > 1) {
            first = parseInt(words[0]);
            last = parseInt(words[1]);
        }
    }
    if (isNaN(first) || isNaN(last) || first < 1 || last < first || last > slices)
        return "error=average.ijm: slices " + first + ".." + last + " are outside the stack's 1.." + slices
               + ". Give n (1 <= n <= " + slices + ") or \"start stop\".";
    setBatchMode(true);
    buggy = zprojectDropsLastSlice();
    averageSlices(first, last, buggy);
    if (first == 1)
        rename("AVG_n=" + last);
    else
        rename("AVG_" + first + "-" + last);
    workaround = "no";
    if (buggy)
        workaround = "yes";
    return "slices=" + first + "-" + last + " workaround=" + workaround + " imagej=" + getVersion();
}

// True when this ImageJ's 32-bit Average Intensity projection drops the last slice of the
// range (ImageJ 1.53t): a known-answer test on a 1x1, 2-slice stack holding 0 and 2.
function zprojectDropsLastSlice() {
    previous = getImageID();
    newImage("zproject-probe", "32-bit black", 1, 1, 2);
    probe = getImageID();
    setSlice(2);
    setPixel(0, 0, 2);
    run("Z Project...", "start=1 stop=2 projection=[Average Intensity]");
    value = getPixel(0, 0);
    close();
    selectImage(probe);
    close();
    selectImage(previous);
    if (value != 1)  // (a comparison in a return statement is not evaluated as one)
        return true;
    return false;
}

// Average slices first..last of the active stack into a new 32-bit image (left active).
function averageSlices(first, last, buggy) {
    source = getImageID();
    if (nSlices == 1) {  // a single image is its own mean (Z Project needs a stack)
        run("Select None");
        run("Duplicate...", "title=average");
        if (bitDepth() != 32)
            run("32-bit");
        return;
    }
    copy = 0;
    if (bitDepth() != 32 || (buggy && last == nSlices)) {
        // Work on a copy of the range: 32-bit, and one spare slice for the 1.53t correction.
        run("Select None");
        run("Duplicate...", "title=average-range duplicate range=" + first + "-" + last);
        copy = getImageID();
        if (bitDepth() != 32)
            run("32-bit");
        last = last - first + 1;
        first = 1;
        if (buggy) {
            setSlice(nSlices);
            run("Add Slice");  // after the last slice; never averaged, see below
        }
    }
    stop = last;
    if (buggy)
        stop = last + 1;  // 1.53t sums start..stop-1 and divides by the count it summed
    run("Z Project...", "start=" + first + " stop=" + stop + " projection=[Average Intensity]");
    result = getImageID();
    if (copy != 0) {
        selectImage(copy);
        close();
    }
    selectImage(source);
    run("Select None");
    selectImage(result);
}
