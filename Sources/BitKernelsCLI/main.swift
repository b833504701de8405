import BitKernels
print("hi")
