// einstein_from_noise.ijm -- the "Einstein from noise" experiment in ImageJ's macro language.
//
// Part of fiji_bridge.  Runs unchanged in Fiji / ImageJ 1.53f or later, using only ImageJ's
// built-in commands.
//
// RUN IT IN FIJI: open the reference image (any photo; File > Open...), then Plugins > Macros >
// Run... and pick this file, or open it in the Script Editor (File > Open..., language
// "IJ1 Macro") and press Run.  A dialog asks for the settings; with no image open, a file
// dialog asks for the reference first.  The result is an "averages" stack, one slice per count
// N, labelled "N=<N>": the average of the first N noise images, each aligned to the reference.
//
// RUN IT FROM A MACRO, THE COMMAND LINE OR PYTHON: pass an argument string (no dialog then),
// e.g. runMacro("einstein_from_noise.ijm", "size=64 n=100 counts=25,100 seed=1") or
// fiji_bridge.imagej.macros.run_experiment_macro(imp, size=64, n=100, counts=(25, 100), seed=1).
//   size=128       side of the square reference and noise images; a power of 2 (FD Math's FHT)
//   n=100          number of noise images
//   counts=25,100  the N of each average (each 1..n); default: n alone
//   seed=1         seed of ImageJ's random numbers: random("seed", seed) seeds Process > Noise >
//                  Add Specified Noise too (measured on ImageJ 1.53t: the same seed gives the same
//                  noise images, so a run can be repeated exactly on the same ImageJ version)
//   reference=...  title of an open image, or an image file, to use as the reference
//                  (default: the active image)
//   noise=...      title of an open 32-bit stack (size x size, at least n slices) whose slices are
//                  used as the noise images instead of ImageJ's noise (to compare with other
//                  implementations, or to check the alignment with known shifts)
//   keep_aligned   also leave the stack of aligned noise images ("aligned") open
//
// THE STEPS (the Python path of fiji_bridge does the same with numpy or ImageJ's FHT):
//   1. Reference: the centre square of the active image (side min(width, height), offset
//      floor((width - side) / 2), floor((height - side) / 2)), Image > Adjust > Size to size x size
//      (bilinear, averaging when downsizing; skipped when already that size), Image > Type >
//      32-bit, then normalised: v = (v - mean) / stdev with ImageJ's mean and SAMPLE stdev
//      (Process > Math > Macro, numbers written with 17 significant digits).  The image you
//      opened is not changed.
//   2. For i = 1..n: a 32-bit black image plus Process > Noise > Add Specified Noise
//      (standard deviation 1): white Gaussian noise, sigma 1.
//   3. Process > FFT > FD Math, Correlate, image1 = noise, image2 = reference, inverse transform:
//      ImageJ's FHT cross-correlation, quadrant-swapped so that zero shift is at the centre
//      (size/2, size/2) and not scaled: cc[size/2 + dy, size/2 + dx] = sum_p noise[p + d] ref[p]
//      (numpy: fftshift(irfft2(rfft2(noise) * conj(rfft2(ref))))).
//   4. The peak (dx, dy) of cc (its maximum; the first one in row order if there are ties, like
//      numpy's argmax), and the noise image shifted CYCLICALLY by (-dy, -dx), i.e.
//      aligned[y, x] = noise[(y + dy) mod size, (x + dx) mod size]  (numpy:
//      np.roll(noise, (-dy, -dx), axis=(0, 1))).  Image > Transform > Translate would fill the
//      uncovered border with 0 instead of wrapping it round, so the shift is done by copying the
//      (up to) four blocks of the image to their wrapped places (Image.copy / Image.paste).
//   5. For each count N: Image > Stacks > Z Project, Average Intensity, of aligned images 1..N.
//      ImageJ 1.53t's 32-bit average drops the last slice of the range (fixed in 1.53u); a
//      known-answer test detects it and the range is then asked for as 1..N+1 (the stack has a
//      spare last slice), which that code averages as exactly 1..N.
//
// Returns (macro "return"; also printed to the Log when run by hand) one line of key=value
// fields: imagej, size, n, counts, seed, noise (ImageJ or the stack's title),
// zproject_workaround (yes/no), ref_mean, ref_stdev (the reference's statistics before
// normalising), seconds, and last shifts=dy,dx;dy,dx;... (the peak shift of every noise image).
// Bad settings are refused: run by hand, a message box says why; with an argument the macro
// returns "error=<why>" instead (ImageJ without its main window would only print the message
// box's text to the console).
// Time, measured in batch mode (ImageJ 1.53t, Java 17, Xvfb, warm JVM): about 1.6 ms per noise
// image at size 64 and 2.2 ms at size 128 (n=1000 in 1.6 s and 2.2 s).

requires("1.53f");
argument = String.trim(getArgument());
result = experiment(argument);
if (argument == "") {
    if (startsWith(result, "error="))
        exit(substring(result, 6));  // a message box
    print("einstein_from_noise.ijm: " + substring(result, 0, indexOf(result, " shifts=")));
    setBatchMode("exit and display");  // show the averages (and the aligned stack if kept)
}
return result;

// The whole experiment; returns its result line, or "error=<why>".
function experiment(argument) {
    start = getTime();
    fail = "error=einstein_from_noise.ijm: ";
    interactive = false;
    if (argument == "")
        interactive = true;

    // ---- settings -------------------------------------------------------------------------------
    size = 128;
    n = 100;
    countsText = "";
    seed = 1;
    referenceName = "";
    noiseName = "";
    keepAligned = false;
    if (interactive) {
        n = 1000;
        countsText = "25,100,1000";
        if (nImages == 0)
            open();  // a file dialog: the reference image
        Dialog.create("Einstein from noise");
        Dialog.addMessage("Reference: " + getTitle());
        Dialog.addNumber("Image size (power of 2):", size);
        Dialog.addNumber("Noise images n:", n);
        Dialog.addString("Average over the first N (comma-separated):", countsText, 20);
        Dialog.addNumber("Random seed:", seed);
        Dialog.addCheckbox("Keep the stack of aligned noise images", keepAligned);
        Dialog.show();
        size = Dialog.getNumber();
        n = Dialog.getNumber();
        countsText = Dialog.getString();
        seed = Dialog.getNumber();
        keepAligned = Dialog.getCheckbox();
    } else {
        // (a user function's string result is stored before use: the interpreter would take a
        // call inside parseInt(...) for a number)
        text = option(argument, "size", "" + size);
        size = parseInt(text);
        text = option(argument, "n", "" + n);
        n = parseInt(text);
        text = option(argument, "seed", "" + seed);
        seed = parseInt(text);
        countsText = option(argument, "counts", "");
        referenceName = option(argument, "reference", "");
        noiseName = option(argument, "noise", "");
        text = option(argument, "keep_aligned", "");
        if (text != "")
            keepAligned = true;
    }
    if (countsText == "")
        countsText = "" + n;
    words = split(countsText, ",; ");
    counts = newArray(words.length);
    for (k = 0; k < words.length; k++)
        counts[k] = parseInt(words[k]);

    // ---- checks ---------------------------------------------------------------------------------
    if (isNaN(size) || size < 2 || pow(2, round(log(size) / log(2))) != size)
        return fail + "size=" + size + " must be a power of 2 (64, 128, 256, ...): FD Math's FHT"
               + " needs it.";
    if (isNaN(n) || n < 1)
        return fail + "n=" + n + " must be a whole number >= 1.";
    if (isNaN(seed))
        return fail + "seed must be a whole number.";
    for (k = 0; k < counts.length; k++)
        if (isNaN(counts[k]) || counts[k] < 1 || counts[k] > n)
            return fail + "counts=" + countsText + ": each count must be between 1 and n=" + n
                   + ".";

    setBatchMode(true);
    if (referenceName != "") {
        if (isOpen(referenceName))
            selectImage(referenceName);
        else if (File.exists(referenceName))
            open(referenceName);
        else
            return fail + "reference=" + referenceName + " is neither an open image nor a"
                   + " file.";
    }
    if (nImages == 0)
        return fail + "no reference image. Open one first, or pass reference=<file>.";
    original = getImageID();
    noiseStack = 0;
    if (noiseName != "") {
        if (!isOpen(noiseName))
            return fail + "noise=" + noiseName + " is not an open image.";
        selectImage(noiseName);
        noiseStack = getImageID();
        if (getWidth() != size || getHeight() != size || nSlices < n || bitDepth() != 32)
            return fail + "the noise stack " + noiseName + " must be 32-bit, " + size + "x" + size
                   + " with at least n=" + n + " slices; it is " + bitDepth() + "-bit "
                   + getWidth() + "x" + getHeight() + " with " + nSlices + ".";
        selectImage(original);
    }

    // ---- 1. the reference -----------------------------------------------------------------------
    run("Select None");
    run("Duplicate...", "title=efn_reference");  // the current slice only; the original is kept
    reference = getImageID();
    side = minOf(getWidth(), getHeight());
    if (getWidth() != side || getHeight() != side) {
        makeRectangle(floor((getWidth() - side) / 2), floor((getHeight() - side) / 2), side, side);
        run("Crop");
    }
    if (side != size)
        run("Size...", "width=" + size + " height=" + size + " depth=1 average interpolation=Bilinear");
    run("32-bit");
    getRawStatistics(count, refMean, min, max, refStdev);
    if (count != size * size || isNaN(refStdev) || refStdev == 0)
        return fail + "the reference is constant or holds NaN values; it cannot be"
               + " normalised.";
    run("Macro...", "code=[v=(v-(" + fullPrecision(refMean) + "))/" + fullPrecision(refStdev) + "]");
    resetMinAndMax();

    // ---- 2.-4. noise, correlation, peak, cyclic alignment ---------------------------------------
    spare = 0;
    if (zprojectDropsLastSlice())
        spare = 1;  // one unused slice at the end, for the 1.53t Z Project correction
    newImage("aligned", "32-bit black", size, size, n + spare);
    aligned = getImageID();
    newImage("efn_noise", "32-bit black", size, size, 1);
    noise = getImageID();
    random("seed", seed);  // also seeds Add Specified Noise (ImageProcessor.setRandomSeed)
    shifts = "";
    for (i = 1; i <= n; i++) {
        showProgress(i, n);
        if (noiseStack != 0) {
            selectImage(noiseStack);
            setSlice(i);
            run("Select None");
            Image.copy;
            selectImage(noise);
            Image.paste(0, 0);
            run("Select None");
        } else {
            selectImage(noise);
            run("Set...", "value=0");
            run("Add Specified Noise...", "standard=1");
        }
        run("FD Math...", "image1=efn_noise operation=Correlate image2=efn_reference result=efn_cc do");
        peak = findPeak();  // (x, y, value) of the maximum of the active image, the map
        close();
        dx = peak[0] - size / 2;
        dy = peak[1] - size / 2;
        pasteShifted(noise, aligned, i, dy, dx);
        shifts = shifts + dy + "," + dx;
        if (i < n)
            shifts = shifts + ";";
    }
    selectImage(noise);
    close();

    // ---- 5. averages of the first N -------------------------------------------------------------
    newImage("averages", "32-bit black", size, size, counts.length);
    averages = getImageID();
    for (k = 0; k < counts.length; k++) {
        selectImage(aligned);
        run("Select None");
        run("Z Project...", "start=1 stop=" + (counts[k] + spare) + " projection=[Average Intensity]");
        Image.copy;
        close();
        selectImage(averages);
        setSlice(k + 1);
        Image.paste(0, 0);
        run("Select None");
        setMetadata("Label", "N=" + counts[k]);
    }
    selectImage(reference);
    close();
    selectImage(aligned);
    if (keepAligned && spare == 1) {
        setSlice(nSlices);
        run("Delete Slice");
    }
    if (!keepAligned)
        close();
    selectImage(averages);
    setSlice(1);
    resetMinAndMax();

    if (noiseStack != 0)
        source = noiseName;
    else
        source = "ImageJ";
    workaround = "no";
    if (spare == 1)
        workaround = "yes";
    return "imagej=" + getVersion() + " size=" + size + " n=" + n
           + " counts=" + String.join(counts, ",") + " seed=" + seed + " noise=" + source
           + " zproject_workaround=" + workaround
           + " ref_mean=" + fullPrecision(refMean) + " ref_stdev=" + fullPrecision(refStdev)
           + " seconds=" + d2s((getTime() - start) / 1000, 3) + " shifts=" + shifts;
}

// ---- functions -----------------------------------------------------------------------------

// The value of key=value in an argument string (ImageJ's own option parser, so values with
// spaces can be given in brackets: reference=[my image.tif]); fallback when the key is absent.
// A bare key (keep_aligned) gives "true".
function option(text, key, fallback) {
    if (indexOf(" " + text + " ", " " + key + " ") >= 0)
        return "true";
    return call("ij.Macro.getValue", text, key, fallback);
}

// A number as text with 17 significant digits (a double's full precision); ImageJ's own
// number-to-string conversion keeps only 4 decimals.  String.format follows the computer's
// locale, so a decimal comma is turned back into a point.
function fullPrecision(x) {
    return replace(String.format("%.17g", x), ",", ".");
}

// (x, y, value) of the maximum of the active 32-bit image; among equal maxima the first in row
// order (numpy's argmax).  Bisection with getRawStatistics on rectangles: about 2*log2(size)
// statistics instead of size*size getPixel calls.
function findPeak() {
    width = getWidth();
    height = getHeight();
    run("Select None");
    getRawStatistics(count, mean, min, best);
    top = 0;
    rows = height;
    while (rows > 1) {  // the first rows holding the maximum
        half = floor(rows / 2);
        makeRectangle(0, top, width, half);
        getRawStatistics(count, mean, min, max);
        if (max == best) {
            rows = half;
        } else {
            top = top + half;
            rows = rows - half;
        }
    }
    left = 0;
    columns = width;
    while (columns > 1) {  // then the first column of that row
        half = floor(columns / 2);
        makeRectangle(left, top, half, 1);
        getRawStatistics(count, mean, min, max);
        if (max == best) {
            columns = half;
        } else {
            left = left + half;
            columns = columns - half;
        }
    }
    run("Select None");
    return newArray(left, top, best);
}

// Slice `slice` of stack `to` := image `from` shifted cyclically by (-dy, -dx):
// to[y, x] = from[(y + dy) mod h, (x + dx) mod w]   (numpy: np.roll(from, (-dy, -dx), (0, 1))).
// The image is cut into (up to) four blocks that are pasted at their wrapped-round places.
function pasteShifted(from, to, slice, dy, dx) {
    selectImage(from);
    w = getWidth();
    h = getHeight();
    sx = ((dx % w) + w) % w;
    sy = ((dy % h) + h) % h;
    copyBlock(from, sx, sy, w - sx, h - sy, to, slice, 0, 0);
    if (sx > 0)
        copyBlock(from, 0, sy, sx, h - sy, to, slice, w - sx, 0);
    if (sy > 0)
        copyBlock(from, sx, 0, w - sx, sy, to, slice, 0, h - sy);
    if (sx > 0 && sy > 0)
        copyBlock(from, 0, 0, sx, sy, to, slice, w - sx, h - sy);
    selectImage(to);
    run("Select None");
    selectImage(from);
    run("Select None");
}

function copyBlock(from, x, y, w, h, to, slice, toX, toY) {
    selectImage(from);
    makeRectangle(x, y, w, h);
    Image.copy;
    selectImage(to);
    setSlice(slice);
    Image.paste(toX, toY);
}

// True when this ImageJ's 32-bit Average Intensity projection drops the last slice of the
// range (ImageJ 1.53t): a known-answer test on a 1x1, 2-slice stack holding 0 and 2 (mean 1).
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
