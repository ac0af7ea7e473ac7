/* The C side of tests/c_libpng.rs: decodes an 8-bit grayscale PNG through
 * a read function given by Rust. libpng reports errors by longjmp; the
 * setjmp has to be here, in C (Rust cannot call setjmp soundly). The error
 * handler copies libpng's message for the Rust side, then longjmps back to
 * the setjmp below without printing anything. */
#include <png.h>
#include <setjmp.h>
#include <string.h>

struct guard_error {
    char message[256];
    int raised;
};

static void guard_on_error(png_structp png, png_const_charp message) {
    struct guard_error *error = png_get_error_ptr(png);
    error->raised = 1;
    strncpy(error->message, message, sizeof error->message - 1);
    error->message[sizeof error->message - 1] = '\0';
    png_longjmp(png, 1);
}

static void guard_on_warning(png_structp png, png_const_charp message) {
    (void)png;
    (void)message;
}

/* Returns 0 when the image was decoded into `out` (width and height set),
 * -1 when libpng raised an error (its message in `error`), -2 when libpng
 * could not allocate its structs. */
int guard_decode_gray(png_rw_ptr read, void *io, struct guard_error *error,
                      unsigned char *out, size_t out_len, png_uint_32 *width,
                      png_uint_32 *height) {
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, error,
                                             guard_on_error, guard_on_warning);
    if (png == NULL) return -2;
    png_infop info = png_create_info_struct(png);
    if (info == NULL) {
        png_destroy_read_struct(&png, NULL, NULL);
        return -2;
    }
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_read_struct(&png, &info, NULL);
        return -1;
    }
    png_set_read_fn(png, io, read);
    png_read_info(png, info);
    *width = png_get_image_width(png, info);
    *height = png_get_image_height(png, info);
    if (png_get_bit_depth(png, info) != 8 ||
        png_get_color_type(png, info) != PNG_COLOR_TYPE_GRAY ||
        (size_t)*width * *height > out_len)
        png_error(png, "not an 8-bit grayscale image that fits the buffer");
    for (png_uint_32 y = 0; y < *height; y++)
        png_read_row(png, out + (size_t)y * *width, NULL);
    png_read_end(png, NULL);
    png_destroy_read_struct(&png, &info, NULL);
    return 0;
}
