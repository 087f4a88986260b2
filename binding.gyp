# node-gyp build of the CPU addon (no CUDA), the fallback when cmake is absent.
# Same sources as CMakeLists.txt (listed by scripts/build-addon.mjs, so new
# files are picked up), same per-file ISA flags (one static library per ISA),
# NAPI_VERSION 8 with C++ exceptions. Build with `npm run build:gyp`, which
# stages this file in build-gyp/ (jepa_root = '..') so node-gyp's ./build does
# not collide with cmake-js's.
{
  'variables': {
    'jepa_root%': '.',
    'jepa_version': '<!(node <(jepa_root)/scripts/build-addon.mjs --package-version)',
    'jepa_isa_variants': '<!(node <(jepa_root)/scripts/build-addon.mjs --isa-variants <(jepa_root))',
    'jepa_has_avx2': '<!(node <(jepa_root)/scripts/build-addon.mjs --has-sources <(jepa_root) avx2)',
    'jepa_has_avx512': '<!(node <(jepa_root)/scripts/build-addon.mjs --has-sources <(jepa_root) avx512)',
    'jepa_has_amx': '<!(node <(jepa_root)/scripts/build-addon.mjs --has-sources <(jepa_root) amx)',
  },
  'target_defaults': {
    'include_dirs': [
      '<(jepa_root)/native/include',
      '<(jepa_root)/native/src',
      '<!(node -p "require(\'node-addon-api\').include_dir")',
    ],
    'defines': ['NAPI_VERSION=8', 'NAPI_CPP_EXCEPTIONS', 'NODE_ADDON_API_DISABLE_DEPRECATED'],
    'cflags': ['-O3', '-march=x86-64', '-fPIC', '-fvisibility=hidden', '-pthread'],
    'cflags_cc': ['-std=c++17', '-fexceptions', '-frtti'],
    'cflags_cc!': ['-fno-exceptions', '-fno-rtti', '-std=gnu++17'],
    'ldflags': ['-pthread'],
    'configurations': {'Release': {'defines': ['NDEBUG']}},
  },
  'targets': [
    {
      'target_name': 'jepa_native',
      'sources': ['<!@(node <(jepa_root)/scripts/build-addon.mjs --list-sources <(jepa_root) base)'],
      'defines': [
        'JEPA_VERSION="<(jepa_version)"',
        'JEPA_BUILD_SYSTEM="node-gyp"',
        'JEPA_ISA_VARIANTS="<(jepa_isa_variants)"',
      ],
      'conditions': [
        ['jepa_has_avx2==1', {'dependencies': ['jepa_isa_avx2']}],
        ['jepa_has_avx512==1', {'dependencies': ['jepa_isa_avx512']}],
        ['jepa_has_amx==1', {'dependencies': ['jepa_isa_amx']}],
      ],
    },
  ],
  'conditions': [
    ['jepa_has_avx2==1', {'targets': [{
      'target_name': 'jepa_isa_avx2',
      'type': 'static_library',
      'sources': ['<!@(node <(jepa_root)/scripts/build-addon.mjs --list-sources <(jepa_root) avx2)'],
      'cflags': ['-mavx2', '-mfma', '-mf16c'],
    }]}],
    ['jepa_has_avx512==1', {'targets': [{
      'target_name': 'jepa_isa_avx512',
      'type': 'static_library',
      'sources': ['<!@(node <(jepa_root)/scripts/build-addon.mjs --list-sources <(jepa_root) avx512)'],
      'cflags': ['-mavx512f', '-mavx512bw', '-mavx512dq', '-mavx512vl', '-mavx512bf16', '-mfma', '-mf16c'],
    }]}],
    ['jepa_has_amx==1', {'targets': [{
      'target_name': 'jepa_isa_amx',
      'type': 'static_library',
      'sources': ['<!@(node <(jepa_root)/scripts/build-addon.mjs --list-sources <(jepa_root) amx)'],
      'cflags': ['-mamx-tile', '-mamx-bf16', '-mavx512f', '-mavx512bf16'],
    }]}],
  ],
}
