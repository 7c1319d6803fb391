# Per-ISA compile flags, applied to kernel files only, chosen by the ISA token in the file name
# (qs8-gemm-avx512vnni.cc -> AVX-512 VNNI flags). The rest of the library is compiled for the
# baseline x86-64 so the scalar fallback never executes an instruction the CPU lacks.
set(NNSLIM_FLAGS_avx2 -mavx2 -mfma)
set(NNSLIM_FLAGS_avx512 -mavx2 -mfma -mavx512f -mavx512bw -mavx512vl -mavx512dq)
set(NNSLIM_FLAGS_avx512vnni ${NNSLIM_FLAGS_avx512} -mavx512vnni)
set(NNSLIM_FLAGS_amx ${NNSLIM_FLAGS_avx512vnni} -mamx-tile -mamx-int8)

function(nnslim_apply_isa_flags)
  foreach(src ${ARGN})
    get_filename_component(name ${src} NAME_WE)
    foreach(isa amx avx512vnni avx512 avx2)
      if(name MATCHES "-${isa}$")
        set_source_files_properties(${src} PROPERTIES COMPILE_OPTIONS "${NNSLIM_FLAGS_${isa}}")
        break()
      endif()
    endforeach()
  endforeach()
endfunction()
