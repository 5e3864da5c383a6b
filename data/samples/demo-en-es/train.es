La oficina está cerrada por las fiestas.
Mi padre conduce despacio y con cuidado.
Me lavo las manos antes de cada comida.
La niña pequeña sostiene un globo amarillo.
Mi hermano pequeño tiene miedo a la oscuridad.
La niebla era muy espesa en la carretera.
La tierra está muy seca en verano.
El museo está cerrado los lunes.
Las tiendas están llenas antes de Navidad.
El tiempo era perfecto para un picnic.
¿Cuántos hermanos tienes?
El hospital está al final de esta calle.
Pasamos el fin de semana en un lago en las montañas.
La parada del autobús está delante de la oficina de correos.
¿Te gustó el concierto de anoche?
La oficina está en el segundo piso.
Vamos al cine esta noche.
Los tomates de nuestro huerto son deliciosos.
El pan de esta panadería todavía está caliente.
Mi marido está cocinando pescado para la cena.
El té está listo, pero todavía está muy caliente.
Recogimos fresas en una granja cerca del pueblo.
El avión llegó tarde por la niebla.
La panadería abre a las seis de la mañana.
Mis tíos viven en una casa con jardín.
Mi vecino toca el violín los domingos por la tarde.
Está nervioso porque mañana tiene un examen.
Compramos tres manzanas y una barra de pan.
Nuestra profesora explicó la lección muy claramente.
Las naranjas del mercado son muy dulces.
La primavera es mi estación favorita.
¡Feliz cumpleaños, mi querido amigo!
Necesitamos una mesa más grande para el comedor.
Mi abuelo era pescador.
¿Cuándo abrirá la nueva biblioteca?
Está lloviendo y no tengo paraguas.
Estamos cansados después del largo paseo.
El nuevo parque tiene un estanque pequeño con patos.
La sopa estaba fría cuando llegó.
Hacía mucho viento en la isla.
Mi padre reparó el tejado el mes pasado.
El hotel está lejos del centro.
La farmacia está al lado del banco.
Mi amigo me envía una postal desde cada ciudad.
Las flores del jardín son rojas y amarillas.
El jardín necesita lluvia después de estas semanas secas.
¿Cuándo empiezan las vacaciones de verano?
Mi teléfono no funciona en la montaña.
A nuestro gato le gusta dormir al sol.
Caminamos a lo largo del río hasta la puesta de sol.
Ella toca la guitarra todas las noches después de la cena.
Por favor, cierra la puerta cuando salgas.
Lo siento, pero no puedo ir mañana.
Bebo un vaso de agua cada mañana.
Viven en el cuarto piso de este edificio.
La película fue larga y un poco aburrida.
La anciana da de comer a las palomas en la plaza.
¿Quieres una taza de café o de té?
El viento llevó las hojas por todo el patio.
Pintaremos la valla el próximo fin de semana.
Mañana llevaré a los niños a la escuela.
El museo tiene cuadros de muchos países.
El camarero recomendó el pescado del día.
¿Por qué no viniste a clase ayer?
No olvides regar las plantas.
Quisiera una mesa para dos, por favor.
¿Podría hablar un poco más despacio, por favor?
El arroz estará listo en veinte minutos.
El cine está al lado de un gran centro comercial.
La bebé está llorando porque tiene hambre.
El bosque es oscuro y muy silencioso.
La lluvia paró después de tres horas.
Los peces de este lago son pequeños y plateados.
¿Puedo pagar con tarjeta aquí?
Mi abuela vive en un pueblo pequeño cerca del mar.
El tren iba muy lleno esta mañana.
El gato está durmiendo en el sofá caliente.
La sopa está demasiado salada para mi gusto.
El taxista conocía todas las calles de la ciudad.
Los niños hicieron un muñeco de nieve en el patio.
La biblioteca está tranquila por la tarde.
Ella hace yoga tres veces por semana.
Estoy orgulloso de mi hermana pequeña.
La tienda de la esquina vende periódicos y caramelos.
Nuestro tren sale del andén cuatro.
¿Dónde está la estación de tren?
La leche está en la nevera al lado del zumo.
Comimos paella en un restaurante cerca del puerto.
Los estudiantes leen dos capítulos cada semana.
Tenemos que limpiar la casa antes de que lleguen los invitados.
El agua fría del río era refrescante.
Mi madre pasea al perro cada mañana.
Las estrellas brillan mucho en el desierto.
El hospital necesita más enfermeras y médicos.
El dentista es muy amable y paciente.
Siempre compramos pan fresco en la panadería de la esquina.
Ella siempre lleva a su perro al parque.
El granjero se levanta antes de que salga el sol.
La doctora trabaja en una clínica pequeña en el pueblo.
Cruzamos la frontera temprano por la mañana.
El pollo necesita una hora más en el horno.
El río corre entre dos colinas verdes.
Normalmente leo antes de dormir.
Nuestras vacaciones empiezan el próximo viernes.
Los niños se rieron del payaso.
Está nublado, pero no va a llover.
Normalmente comemos a las dos.
Ella compró un paraguas rojo y un par de botas.
Los estudiantes esperan el autobús fuera de la escuela.
El viento es muy fuerte cerca de la costa.
Mi hermano es más alto que mi padre.
El autobús estaba lleno, así que caminamos.
Me siento mucho mejor después de dormir bien.
Me duelen los pies después de bailar toda la noche.
Mi hija quiere un cachorro para su cumpleaños.
Las montañas parecen azules desde lejos.
¿Por qué estás triste hoy?
El río estaba muy crecido después de la lluvia.
Los niños están haciendo sus deberes en la sala.
El restaurante de la esquina sirve un pescado excelente.
Compré un regalo para el cumpleaños de mi madre.
Mi primo estudia medicina en la universidad.
El camino al pueblo es estrecho y empinado.
Nuestro piso tiene dos dormitorios y un balcón.
La autopista estuvo cerrada durante dos horas.
Me gusta pintar cuadros de casas antiguas.
Mi amigo vive al otro lado de la ciudad.
Mi esposa hace el mejor pastel de chocolate.
¿Prefieres la playa o la montaña?
¿Puedes ayudarme a llevar estas bolsas?
Estoy buscando un libro sobre pájaros.
El café de esta cafetería es muy fuerte.
La noticia me sorprendió mucho.
Las calles estaban mojadas después de la tormenta.
Mi fruta favorita es el mango.
Hoy hace frío, así que ponte un abrigo.
Necesitamos leche, huevos y azúcar para el pastel.
El puente está cerrado por las obras.
La mesa es de madera vieja.
El vestido del escaparate es bonito pero caro.
No sé el nombre de esta flor.
Compraremos un sofá nuevo para la sala.
Ella sonrió cuando vio a su vieja amiga.
Él no come carne ni pescado.
Normalmente me ducho antes del desayuno.
Tengo dolor de cabeza y dolor de garganta.
Mis compañeros y yo preparamos un proyecto sobre los ríos.
Él lava los platos después de cada comida.
La maestra escribió la fecha en la pizarra.
Celebraremos su cumpleaños en un restaurante.
La cocina huele a pan recién hecho.
El niño pequeño perdió su primer diente.
El mercado vende fruta fresca todos los días.
La enfermera me tomó la temperatura dos veces.
Envié los documentos por correo electrónico esta mañana.
Ella está aprendiendo a tocar el piano.
Él corre en el parque todos los sábados por la mañana.
No dormí bien anoche.
¿Está abierta la farmacia los domingos?
Aprendí a nadar cuando tenía siete años.
Estoy leyendo una novela larga sobre un marinero.
Ella se sentía sola en la gran ciudad.
Ella perdió sus llaves de camino a casa.
Nuestros vecinos plantaron rosas a lo largo de la valla.
Estaba cansado, así que me acosté temprano.
Mi amigo está aprendiendo a hablar japonés.
Visitaremos el castillo el domingo.
Perdimos el último tren y tomamos un taxi.
Como una manzana cada tarde.
¿Cuánto cuesta esta chaqueta azul?
Vivo en esta ciudad desde hace cinco años.
Ellos no entendieron la pregunta.
Mi abuelo camina con un bastón de madera.
Nos quedamos en casa porque estaba nevando.
¿A qué hora sale el autobús?
Los limones están en el cuenco azul.
La ciudad está muy tranquila en agosto.
El camarero trajo la cuenta rápidamente.
Mañana hará sol y calor.
¿Cómo fue tu viaje a las montañas?
Los caballos corren por el campo.
El queso y el vino están en la mesa.
La playa estaba vacía temprano por la mañana.
Los pájaros vuelan al sur en otoño.
Mi tío repara bicicletas viejas en su garaje.
Me duele la espalda después de trabajar en el jardín.
Los nuevos vecinos son muy simpáticos.
Hacía tanto calor que nos quedamos dentro.
Hay doce meses en un año.
Perdí mis guantes en algún lugar del parque.
A mi hermano no le gustan las verduras.
El aire de la montaña es limpio y fresco.
La ciudad tiene muchos parques y plazas antiguas.
Mi hijo se rompió el brazo jugando al baloncesto.
Terminaré el informe antes del viernes.
La ventana de mi dormitorio no cierra bien.
Ella lloró cuando leyó la carta.
Mis abuelos se casaron en una iglesia pequeña.
Nos mudamos a un piso más grande en marzo.
¿Ya has terminado tus deberes?
Mis amigos y yo vimos una película ayer.
Vimos los fuegos artificiales desde el balcón.
La oficina de correos está cerrada hasta el lunes.
Sacamos muchas fotos durante nuestro viaje.
Mañana visitaremos el museo con nuestros amigos.
No me gusta levantarme temprano.
La lámpara de mi escritorio está rota.
¿Llamaste a tus abuelos la semana pasada?
Quiero aprender a cocinar comida italiana.
Compré dos kilos de naranjas en el mercado.
Voy a comprar un regalo para mi amiga.
Mi hermano tiene un trabajo nuevo en el banco.
¡Ten cuidado, el suelo está mojado!
Los zapatos que compré ayer son demasiado pequeños.
Tengo una cita con el dentista el lunes.
Escribo una lista antes de ir de compras.
La reunión empieza a las diez.
Tengo miedo de los perros grandes.
Los obreros están construyendo una escuela nueva.
La nieve de las montañas se derrite en abril.
Ella está preocupada por su padre enfermo.
La frutería vende fresas en primavera.
Esta medicina es para la tos.
El nuevo estudiante se sienta a mi lado.
Vamos a plantar tomates en el jardín.
El barco sale del puerto a las siete.
Mi abuela hace sopa con pollo y arroz.
Te esperaré delante del cine.
Jugamos a las cartas con nuestros abuelos los domingos.
La sopa necesita más sal y pimienta.
Pintamos de blanco las paredes de la cocina la primavera pasada.
Mi hija dibuja caballos en su cuaderno.
El lago se congela en enero.
La habitación del hotel tenía vista al lago.
El cielo estuvo gris toda la tarde.
Mi madre trabaja en el hospital como enfermera.
La cocina es pequeña pero muy luminosa.
El perro ladra cuando alguien toca el timbre.
Mi hermana tiene dos perros y un gato.
Mi jefe está de vacaciones esta semana.
Nuestro equipo ganó el partido el domingo.
Ha llovido toda la semana.
Hay mucho tráfico por la mañana.
El médico dice que necesito descansar.
El árbol delante de nuestra casa es muy viejo.
Me gusta caminar bajo la lluvia.
Mañana habrá una tormenta en el norte.
Mi tía cultiva hierbas en su balcón.
Ella escribe correos a sus clientes cada mañana.
El sendero del bosque está muy embarrado.
Mi madre no bebe café.
La tienda cierra a las ocho de la tarde.
Nunca bebo café después de las seis de la tarde.
Mis padres están jubilados y viajan mucho.
Mi hermana estudia para ser maestra.
Ella nació en un pueblo pequeño del norte.
El puente viejo cruza el río cerca de la iglesia.
La clase empieza a las nueve y termina a mediodía.
Las manzanas de ese árbol todavía no están maduras.
Las hojas se vuelven amarillas y marrones en otoño.
Visitamos a nuestros primos en el sur el verano pasado.
Mi abuela teje calcetines calientes para toda la familia.
Me siento feliz cuando brilla el sol.
Viajaremos a las montañas en verano.
¿Alguna vez has visto el océano?
Los niños nadan en el río en verano.
Esta calle es muy ruidosa por la noche.
La enfermera me dio un vaso de agua.
Tenemos una reunión con el director el martes.
Mis amigos vienen a cenar el viernes.
Mi hermana y su marido tienen tres hijos.
Mi madre canta mientras cocina.
La luna está muy brillante esta noche.
Encontré una cartera pequeña en el autobús.
Los chicos están jugando al fútbol en la calle.
No toques el horno, está muy caliente.
Me siento nervioso antes de cada examen.
El bebé duerme tres horas después de comer.
Camino al trabajo cuando hace buen tiempo.
La casa vieja junto al río está vacía ahora.
Esta camisa es demasiado cara para mí.
Mi prima vende verduras en el mercado de los sábados.
Mi hermano cocina arroz con verduras los lunes.
Las vacas están comiendo hierba en el campo.
¿Dónde compraste ese jersey verde?
Las noches son largas y frías en invierno.
Nevó mucho durante la noche.
El tren al aeropuerto sale cada veinte minutos.
Su marido trabaja de noche en una fábrica.
No encuentro mis gafas en ninguna parte.
El pueblo tiene solo una tienda y una iglesia.
¿Quién quiere otro trozo de pastel?
Los niños recogieron conchas en la playa.
Tengo mucha sed después del partido.
¿Cómo se dice esta palabra en español?
Iremos de acampada cerca del lago en agosto.
Mi primo toca la batería en un grupo.
Mis vecinos tienen un perro grande y negro.
Perdone, ¿está libre este asiento?
Los estudiantes escucharon atentamente al profesor.
Mi padre planta patatas cada primavera.
El sol se pone muy tarde en junio.
Mis abuelos tienen una granja con vacas y ovejas.
Dejé mi abrigo en el restaurante.
El jardín está lleno de mariposas en julio.
¿Hay un supermercado cerca de aquí?
Cenamos juntos todos los domingos por la noche.
Los chicos subieron al árbol grande detrás de la escuela.
Mis padres se casaron hace treinta años.
A mi hija le encanta leer cuentos de animales.
Estoy contento porque mis exámenes han terminado.
Mi hermana trabaja de abogada en la capital.
¿Vienes a la fiesta el sábado?
Condujimos por la costa durante cuatro horas.
Necesito un bolígrafo y un poco de papel.
Nuestra escuela tiene una biblioteca grande y un gimnasio.
Llevaré una ensalada a la fiesta.
El granjero vende huevos y miel en el mercado.
Las zanahorias y las patatas están en la cesta.
Mi hijo quiere ser piloto algún día.
Por favor, apaga las luces antes de acostarte.
El tren se paró en medio del campo.
Necesito comprar zapatos nuevos para el invierno.
Los niños están durmiendo, así que habla bajo, por favor.
El banco cierra temprano los viernes.
Nuestro guía hablaba tres idiomas.
El mar estaba tranquilo y azul esta mañana.
Te llamaré cuando llegue al hotel.
Los estudiantes tienen un examen el jueves.
El agua de la piscina está demasiado fría.
Hace calor en verano y frío en invierno.
Escuchamos música mientras limpiamos.
Llegarán a la estación a mediodía.
El reloj de la cocina va diez minutos adelantado.
Los pájaros cantan en los árboles al amanecer.
Dieciocho personas trabajan en nuestra oficina.
Oímos truenos a lo lejos.
Trabajo en una oficina en el centro de la ciudad.
Los platos y los vasos están en el armario.
Las luces de la ciudad son bonitas de noche.
Nunca he estado en México.
Mi padre lee el periódico por la mañana.
Olvidé mi libro en la escuela.
Mi ordenador es viejo y muy lento.
Pintaremos el dormitorio de azul.
Las calles están llenas de gente los domingos.
Mi abuelo cuenta historias divertidas sobre su infancia.
La enfermera fue amable con mi abuela.
Hicimos un pastel para nuestra profesora.
Las montañas están cubiertas de nieve todo el año.
Comemos pescado los viernes.
Aprendo palabras nuevas todos los días.
¿Quién es la mujer con el sombrero rojo?
El autobús tarda cuarenta minutos hasta el aeropuerto.
El precio de las verduras subió este mes.
¡Qué día tan bonito hace hoy!
¿Cuánto dura el viaje?
Nuestro vuelo fue cancelado por la tormenta.
Le presté mi paraguas a una compañera.
