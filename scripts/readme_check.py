#!/usr/bin/env python3
"""Compiles and runs every ```swift block of README.md as a package that depends on BitKernels would:
a temporary package with `.package(path:)` to this checkout and `.product(name:package:)` lines
(the README's dependency snippet), one executable per block, each run from the checkout's root.
Prints 'readme examples: N passed, M failed'. Part of the test command."""
import os, re, shutil, subprocess, sys, tempfile

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
blocks = re.findall(r"```swift\n(.*?)```", open(os.path.join(root, "README.md")).read(), re.S)
work = tempfile.mkdtemp(prefix="bk-readme-")
try:
    # A path dependency's identity is its folder's name: reach the checkout as "BitKernels", the
    # name a consumer's manifest uses (a clone may be in any folder).
    os.symlink(root, os.path.join(work, "BitKernels"))
    targets = []
    for i, code in enumerate(blocks):
        if "Package.swift" in code.split("\n", 1)[0] or "import " not in code:
            continue  # the manifest snippet itself is exercised by this package's manifest
        name = f"Example{i}"
        os.makedirs(os.path.join(work, "Sources", name))
        with open(os.path.join(work, "Sources", name, "main.swift"), "w") as f:
            f.write("import Foundation\n" + code)
        targets.append(name)
    products = '.product(name: "BitKernels", package: "BitKernels"), .product(name: "BitNet", package: "BitKernels"), .product(name: "BitNeurons", package: "BitKernels")'
    with open(os.path.join(work, "Package.swift"), "w") as f:
        f.write(f'''// swift-tools-version: 6.2
import PackageDescription
let package = Package(
    name: "ReadmeExamples",
    dependencies: [.package(path: "BitKernels")],
    targets: [{", ".join(f'.executableTarget(name: "{t}", dependencies: [{products}])' for t in targets)}]
)
''')
    scratch = os.path.join(root, ".build-readme")
    build = subprocess.run(["swift", "build", "--package-path", work, "--scratch-path", scratch], capture_output=True, text=True)
    if build.returncode != 0:
        sys.stdout.write(build.stdout[-6000:] + build.stderr[-3000:])
        print(f"readme examples: 0 passed, {len(targets)} failed")
        sys.exit(1)
    binpath = subprocess.run(["swift", "build", "--package-path", work, "--scratch-path", scratch, "--show-bin-path"],
                             capture_output=True, text=True).stdout.strip()
    passed = failed = 0
    for t in targets:
        r = subprocess.run([os.path.join(binpath, t)], cwd=root, capture_output=True, text=True, timeout=300)
        if r.returncode == 0:
            passed += 1
        else:
            failed += 1
            print(f"{t} exited {r.returncode}: {r.stderr.strip()[-500:]}")
    print(f"readme examples: {passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)
finally:
    shutil.rmtree(work, ignore_errors=True)
