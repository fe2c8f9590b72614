//! `#[engines]` turns `async fn name(engine: Engine) { … }` into two tests,
//! `name::sqlite` and `name::postgres`, and leaves the function itself as written, so
//! `cargo fmt` formats its body (a `macro_rules!` wrapper hides it from rustfmt).

use proc_macro::TokenStream;
use quote::quote;
use syn::{ItemFn, parse_macro_input};

#[proc_macro_attribute]
pub fn engines(args: TokenStream, input: TokenStream) -> TokenStream {
    if !args.is_empty() {
        return syn::Error::new(
            proc_macro2::Span::call_site(),
            "#[engines] takes no arguments",
        )
        .to_compile_error()
        .into();
    }
    let f = parse_macro_input!(input as ItemFn);
    if f.sig.asyncness.is_none() || f.sig.inputs.len() != 1 {
        return syn::Error::new_spanned(
            &f.sig,
            "#[engines] expects `async fn name(engine: Engine)`",
        )
        .to_compile_error()
        .into();
    }
    let name = &f.sig.ident;
    // A function and a module may share a name: they live in different namespaces.
    quote! {
        #f

        mod #name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::#name(::adc_e2e::engine::Engine::Sqlite).await
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::#name(::adc_e2e::engine::Engine::Postgres).await
            }
        }
    }
    .into()
}
